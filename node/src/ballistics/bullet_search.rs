//! Network-wide bullet search and the holder's side of bullet confirmation. The probe's
//! digest is screened against every bullet digest held (compatible caliber classes, the probe
//! itself left out); the best candidates go to their holders, one signed request per holder
//! carrying the probe's land signatures; each holder compares land to land at every phase and
//! answers with the best phase, the matched lands and every land pair's scores, signed. Both
//! sides write the exchange into their audit logs.

use rayon::prelude::*;
use serde_json::{Value, json};
use striae_ballistics_lib::bullet::{Bullet, BulletDigest, SIGNATURE_PITCH_UM, compare_bullets};
use striae_protocol::{
    BureauId, SignedMessage, SyncRequest, SyncResponse,
    ballistic::{EvidenceKind, ExhibitRef},
    bullet::{
        BulletComparison, BulletConfirmRequest, BulletConfirmResponse, LandPairScore, LandTrace,
        MAX_BULLET_CONFIRM_EXHIBITS, MAX_BULLET_PROBE_BYTES, MAX_TRACE_SAMPLES,
    },
    time::now_ms,
};

use super::{
    BallisticsError, Held,
    bullets::{lands_name, prepare_lands},
    exchange::{Answering, Asking, Received, admit, answer_signed, ask_signed, by_holder},
    exhibits::{MAX_CASE_REF_CHARS, on_cpu, parse_caliber, parse_case_ref},
    search::{CONFIRM_TOP, ConfirmError, DEFAULT_LIMIT, MAX_LIMIT, SearchRequest, count},
};
use crate::ballistics::BallisticsNode;
use crate::metrics::Metrics;

/// What to search with.
pub enum BulletProbe {
    /// The lands' raw X3P files, in land order.
    Upload(Vec<Vec<u8>>),
    /// One of this node's bullets, by id.
    Stored(String),
}

/// One candidate bullet.
#[derive(Clone, Debug)]
pub struct BulletCandidate {
    /// The holder and its bullet.
    pub held: Held,
    /// Screening score (best-phase mean land correlation of the digests).
    pub screen_score: f32,
    /// As for cartridge cases: `confirmed`, `not_confirmed`, `not_requested`,
    /// `holder_offline`, `holder_failed`, `holder_refused`, `unknown_exhibit`,
    /// `not_comparable`.
    pub confirmation: &'static str,
    /// Details of a failure.
    pub detail: Option<String>,
    /// The holder's comparison, when it compared.
    pub comparison: Option<BulletComparison>,
    /// Whether the holder's signature verified (`None` for own bullets).
    pub signature_valid: Option<bool>,
}

impl BulletCandidate {
    fn confirmed(&self) -> bool {
        self.confirmation == "confirmed"
    }

    fn score(&self) -> f32 {
        match &self.comparison {
            Some(BulletComparison::Compared { score, .. }) => *score,
            _ => f32::NEG_INFINITY,
        }
    }
}

/// A bullet search's answer.
pub struct BulletSearchResult {
    /// Random id, also in the holders' audit logs.
    pub search_id: String,
    /// The probe's caliber class.
    pub caliber_class: String,
    /// Bullet digests held.
    pub held: usize,
    /// Candidates, best first.
    pub candidates: Vec<BulletCandidate>,
    /// The probe's land signatures (what the comparison pictures draw).
    pub probe: Bullet,
}

/// A probe ready to search with.
struct ReadyBullet {
    bullet: Bullet,
    digest: BulletDigest,
    class: String,
    case_ref: String,
    itself: Option<ExhibitRef>,
}

async fn ready_bullet(
    node: &BallisticsNode,
    probe: BulletProbe,
    request: &SearchRequest,
) -> Result<ReadyBullet, BallisticsError> {
    match probe {
        BulletProbe::Upload(files) => {
            let (_, class) = parse_caliber(request.caliber.as_deref())?;
            let case_ref = parse_case_ref(request.case_ref.as_deref(), false)?;
            let names: Vec<String> = files
                .iter()
                .map(|f| blake3::hash(f).to_hex().to_string())
                .collect();
            let itself = node
                .ballistics
                .exhibit_with_name(&lands_name(&names))?
                .and_then(|r| r.exhibit_ref());
            let prepared = on_cpu(node, move || prepare_lands(&files)).await??;
            Ok(ReadyBullet {
                bullet: prepared.bullet,
                digest: prepared.digest,
                class: class.class,
                case_ref,
                itself,
            })
        }
        BulletProbe::Stored(id) => {
            let b = &node.ballistics;
            let not_found = || BallisticsError::NotFound(format!("no exhibit {id} at this node"));
            let record = b.record(&id)?.ok_or_else(not_found)?;
            let bullet = b.bullet(&id)?.ok_or_else(not_found)?;
            let digest = hex::decode(&record.digest)
                .ok()
                .and_then(|d| BulletDigest::from_bytes(&d).ok())
                .ok_or_else(|| BallisticsError::Damaged(id.clone()))?;
            let case_ref = match request.case_ref.as_deref() {
                Some(c) => parse_case_ref(Some(c), false)?,
                None => record.case_ref.clone(),
            };
            Ok(ReadyBullet {
                bullet,
                digest,
                class: record.caliber_class.clone(),
                case_ref,
                itself: record.exhibit_ref(),
            })
        }
    }
}

/// Runs a bullet search.
pub async fn search_bullet(
    node: &BallisticsNode,
    probe: BulletProbe,
    request: SearchRequest,
) -> Result<BulletSearchResult, BallisticsError> {
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
    Metrics::count(&node.metrics.searches, "bullet", 1);
    node.tally.add("searches", "bullet", 1);
    let probe = ready_bullet(node, probe, &request).await?;
    let me = node.me;
    let worker = node.clone();
    let (digest, class, itself) = (probe.digest.clone(), probe.class.clone(), probe.itself);
    let (held, hits) = tokio::task::spawn_blocking(move || {
        let index = &worker.ballistics.bullets;
        let hits = index.search(&digest, &class, itself.map(|r| (me, r)), limit);
        (index.len(), hits)
    })
    .await
    .map_err(|source| BallisticsError::Task {
        what: "screening",
        source,
    })?;
    let mut candidates: Vec<BulletCandidate> = hits
        .into_iter()
        .map(|(held, screen_score)| BulletCandidate {
            held,
            screen_score,
            confirmation: "not_requested",
            detail: None,
            comparison: None,
            signature_valid: None,
        })
        .collect();
    let search_id: [u8; 16] = rand::random();
    let confirmed = confirm.min(candidates.len());
    confirm_bullets(node, &probe, search_id, &mut candidates[..confirmed]).await;
    if confirmed > 0 {
        // The confirmation exchanges are in the audit log: on disk before the answer.
        node.store.flush().await?;
    }
    candidates.sort_by(|a, b| {
        b.confirmed()
            .cmp(&a.confirmed())
            .then_with(|| b.score().total_cmp(&a.score()))
            .then_with(|| b.screen_score.total_cmp(&a.screen_score))
    });
    Ok(BulletSearchResult {
        search_id: hex::encode(search_id),
        caliber_class: probe.class,
        held,
        candidates,
        probe: probe.bullet,
    })
}

async fn confirm_bullets(
    node: &BallisticsNode,
    probe: &ReadyBullet,
    search_id: [u8; 16],
    candidates: &mut [BulletCandidate],
) {
    let groups = by_holder(candidates.iter().map(|c| &c.held));
    let wire = probe.bullet.to_bytes();
    let asks = groups.into_iter().map(|(holder, refs)| {
        let wire = wire.clone();
        async move {
            let outcome = if holder == node.me {
                compare_locally(node, node.me, probe.bullet.clone(), refs)
                    .await
                    .map(|r| (r, None))
                    .map_err(ConfirmError::Local)
            } else {
                ask_bullet_holder(node, holder, search_id, &probe.case_ref, wire, refs)
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

fn fill(c: &mut BulletCandidate, comparison: Option<&BulletComparison>, signed: Option<bool>) {
    c.signature_valid = signed;
    match comparison {
        Some(compared @ BulletComparison::Compared { confirmed, .. }) => {
            c.confirmation = if *confirmed {
                "confirmed"
            } else {
                "not_confirmed"
            };
            c.comparison = Some(compared.clone());
        }
        Some(BulletComparison::UnknownExhibit) => c.confirmation = "unknown_exhibit",
        Some(BulletComparison::NotComparable(why)) => {
            c.confirmation = "not_comparable";
            c.detail = Some(why.clone());
        }
        None => {
            c.confirmation = "holder_failed";
            c.detail = Some("the holder's answer left this exhibit out".into());
        }
    }
}

/// Sends one signed bullet confirmation request to `holder` and checks its signed answer;
/// both are written to the audit log.
pub(super) async fn ask_bullet_holder(
    node: &BallisticsNode,
    holder: BureauId,
    search_id: [u8; 16],
    case_ref: &str,
    probe: Vec<u8>,
    refs: Vec<ExhibitRef>,
) -> Result<Vec<(ExhibitRef, BulletComparison)>, ConfirmError> {
    let exhibits: Vec<String> = refs.iter().map(|r| r.to_hex()).collect();
    let request = BulletConfirmRequest {
        search_id,
        requester: node.me,
        issued_at_ms: now_ms(),
        case_ref: case_ref.to_string(),
        probe,
        exhibits: refs,
        acting: node.acting_reference(),
    };
    let asking = Asking {
        holder,
        subject: hex::encode(search_id),
        actions: ("bullet_confirm_request", "bullet_confirm_response"),
        case_ref,
        details: json!({"exhibits": exhibits}),
    };
    let me = node.me;
    let answer = ask_signed(
        node,
        asking,
        &request,
        SyncRequest::BulletConfirm,
        |response| match response {
            SyncResponse::BulletConfirm(signed) => Ok(signed),
            other => Err(other),
        },
        |r: BulletConfirmResponse| {
            if r.requester != me || r.search_id != search_id {
                return Err(ConfirmError::Misaddressed);
            }
            if let Some(bad) = r.results.iter().find_map(|(_, c)| c.check().err()) {
                return Err(ConfirmError::Refused(format!(
                    "the holder's comparison breaks a bound: {bad}"
                )));
            }
            Ok(r)
        },
        |r| json!({"results": r.results.iter().map(|(e, c)| comparison_json(e, c)).collect::<Vec<_>>()}),
    )
    .await?;
    Ok(answer.results)
}

/// Compares `probe` with this node's bullets `refs` for `asker`. Retracted or unknown
/// exhibits, exhibits that are not bullets and exhibits not shared with `asker` answer
/// `UnknownExhibit`.
pub(super) async fn compare_locally(
    node: &BallisticsNode,
    asker: BureauId,
    probe: Bullet,
    refs: Vec<ExhibitRef>,
) -> Result<Vec<(ExhibitRef, BulletComparison)>, BallisticsError> {
    let worker = node.clone();
    on_cpu(node, move || {
        refs.par_iter()
            .map(|r| (*r, compare_one(&worker, asker, &probe, r)))
            .collect()
    })
    .await
}

fn compare_one(
    node: &BallisticsNode,
    asker: BureauId,
    probe: &Bullet,
    exhibit: &ExhibitRef,
) -> BulletComparison {
    let b = &node.ballistics;
    let id = exhibit.to_hex();
    let active = matches!(b.record(&id), Ok(Some(rec))
        if rec.retracted_at_ms.is_none() && rec.evidence_kind() == Some(EvidenceKind::Bullet)
            && rec.share.includes(&asker, &rec.holder));
    if !active {
        return BulletComparison::UnknownExhibit;
    }
    match b.bullet(&id) {
        Ok(Some(held)) => to_wire(probe, &held),
        Ok(None) => BulletComparison::UnknownExhibit,
        Err(e) => BulletComparison::NotComparable(format!("stored lands unreadable: {e}")),
    }
}

/// The library's comparison as it travels, with the held lands' signatures of a confirmed
/// match (so the searcher can show them aligned).
fn to_wire(probe: &Bullet, held: &Bullet) -> BulletComparison {
    let c = compare_bullets(probe, held);
    let land = |i: usize| u8::try_from(i).unwrap_or(u8::MAX);
    let pairs = c
        .pairs
        .iter()
        .map(|p| LandPairScore {
            probe_land: land(p.probe_land),
            held_land: land(p.held_land),
            ccf: p.ccf,
            cms: p.cms,
            lag_um: p.lag_um,
            matched: p.matched,
        })
        .collect();
    let traces = if c.confirmed {
        c.matched_lands
            .iter()
            .filter_map(|&(_, h)| {
                let l = held.lands.get(h)?;
                let z: Vec<f32> = l
                    .signature
                    .iter()
                    .copied()
                    .take(MAX_TRACE_SAMPLES)
                    .collect();
                Some(LandTrace {
                    land: land(h),
                    step_um: SIGNATURE_PITCH_UM as f32,
                    z,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    BulletComparison::Compared {
        score: c.score,
        phase: u32::try_from(c.phase).unwrap_or(0),
        matched_lands: c
            .matched_lands
            .iter()
            .map(|&(a, b)| (land(a), land(b)))
            .collect(),
        pairs,
        confirmed: c.confirmed,
        traces,
    }
}

/// One comparison as the audit log and the API show it (lands numbered from 1, as
/// examiners count them).
pub(super) fn comparison_json(exhibit: &ExhibitRef, c: &BulletComparison) -> Value {
    let id = exhibit.to_hex();
    match c {
        BulletComparison::Compared {
            score,
            phase,
            matched_lands,
            pairs,
            confirmed,
            ..
        } => json!({
            "exhibit_ref": id, "outcome": "compared", "score": round4(*score), "phase": phase,
            "matched_lands": matched_lands.iter()
                .map(|(a, b)| [u32::from(*a) + 1, u32::from(*b) + 1]).collect::<Vec<_>>(),
            "confirmed": confirmed,
            "land_pairs": pairs.iter().map(|p| json!({
                "probe_land": u32::from(p.probe_land) + 1, "held_land": u32::from(p.held_land) + 1,
                "ccf": round4(p.ccf), "cms": p.cms, "lag_um": round4(p.lag_um),
                "matched": p.matched})).collect::<Vec<_>>(),
        }),
        BulletComparison::UnknownExhibit => {
            json!({"exhibit_ref": id, "outcome": "unknown_exhibit"})
        }
        BulletComparison::NotComparable(why) => {
            json!({"exhibit_ref": id, "outcome": "not_comparable", "reason": why})
        }
    }
}

fn round4(v: f32) -> f64 {
    (f64::from(v) * 10_000.0).round() / 10_000.0
}

impl BulletSearchResult {
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
                    "kind": "bullet",
                    "caliber_class": c.held.caliber_class,
                    "screen_score": round4(c.screen_score),
                    "confirmed": c.confirmed(),
                    "confirmation": c.confirmation,
                });
                if let Some(compared) = &c.comparison {
                    let shown = comparison_json(&c.held.exhibit_ref, compared);
                    for key in ["score", "phase", "matched_lands", "land_pairs"] {
                        v[key] = shown[key].clone();
                    }
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
            "kind": "bullet",
            "caliber_class": self.caliber_class,
            "digests_held": self.held,
            "lands": self.probe.lands.len(),
            "candidates": candidates,
        })
    }
}

/// Why a bullet confirmation request cannot be served.
#[derive(Debug, thiserror::Error)]
enum RequestProblem {
    #[error(
        "a bullet confirmation request names 1 to {} distinct bullets",
        MAX_BULLET_CONFIRM_EXHIBITS
    )]
    Exhibits,
    #[error("case reference too long")]
    CaseRefTooLong,
    #[error("the probe's land signatures do not decode: {0}")]
    Probe(String),
}

fn check_request(request: &BulletConfirmRequest) -> Result<Bullet, RequestProblem> {
    let distinct: std::collections::HashSet<_> = request.exhibits.iter().collect();
    if request.exhibits.is_empty()
        || request.exhibits.len() > MAX_BULLET_CONFIRM_EXHIBITS
        || distinct.len() != request.exhibits.len()
    {
        return Err(RequestProblem::Exhibits);
    }
    if request.case_ref.chars().count() > MAX_CASE_REF_CHARS {
        return Err(RequestProblem::CaseRefTooLong);
    }
    if request.probe.len() > MAX_BULLET_PROBE_BYTES {
        return Err(RequestProblem::Probe("too large".into()));
    }
    Bullet::from_bytes(&request.probe).map_err(|e| RequestProblem::Probe(e.to_string()))
}

/// Answers another member's bullet confirmation request.
pub async fn on_bullet_confirm_request(
    node: &BallisticsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    let request = match message.open_from::<BulletConfirmRequest>(&node.network, &from) {
        Ok(r) => r,
        Err(e) => {
            return SyncResponse::Refused(format!(
                "bullet confirmation request does not verify: {e}"
            ));
        }
    };
    let search_id = hex::encode(request.search_id);
    let exhibits: Vec<String> = request.exhibits.iter().map(|r| r.to_hex()).collect();
    let received = Received {
        from,
        subject: &search_id,
        action: "bullet_confirm_request",
        exhibits: request.exhibits.len(),
        acting: &request.acting,
        details: json!({"case_ref": request.case_ref, "exhibits": exhibits}),
    };
    let checked = check_request(&request);
    if let Err(refusal) = admit(
        node,
        received,
        checked.as_ref().err().map(|e| e.to_string()),
    ) {
        Metrics::event(&node.metrics.confirmations, "bullet", "refused");
        return refusal;
    }
    Metrics::event(&node.metrics.confirmations, "bullet", "answered");
    let Ok(probe) = checked else {
        return SyncResponse::Refused("the probe's land signatures do not decode".into());
    };
    let results = match compare_locally(node, from, probe, request.exhibits.clone()).await {
        Ok(r) => r,
        Err(e) => return SyncResponse::Refused(format!("confirmation failed: {e}")),
    };
    let response = BulletConfirmResponse {
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
        action: "bullet_confirm_response",
        details: json!({"case_ref": request.case_ref, "results": shown}),
    };
    answer_signed(node, answering, &response, SyncResponse::BulletConfirm).await
}
