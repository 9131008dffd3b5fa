//! Leads: every digest another member publishes is screened against this node's own
//! exhibits; exhibits scoring at least `LEAD_SCREEN_THRESHOLD` (at most a few per digest)
//! become leads, kept in the `ballistic_leads` tree.
//!
//! Confirming a lead sends our prepared surface (and our case reference) to the member that
//! published the digest, so a lead is only *proposed*: it waits for an operator to approve it
//! (`approve_lead`, audited), unless the member still has automatic confirmations left in its
//! daily budget (`Tuning::lead_auto_confirms_per_day`, 0 by default). A digest that is
//! (nearly) one of our own, i.e. a member republishing our digests under its own references
//! to be sent our surfaces, is never a lead: it is logged and counted as refused.
//!
//! The digests waiting to be screened are kept on disk (tree `ballistic_lead_jobs`), so a
//! restart loses none. Screening runs on the periodic tick (every 5 s), in a task of its own,
//! never on the replication core; approved leads whose holder was offline are retried on
//! later ticks.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use striae_ballistics_lib::signature::Digest;
use striae_protocol::{
    Body, BureauId, VerifiedEntry,
    ballistic::{BallisticDigest, Comparison, ExhibitRef, MAX_BALLISTIC_DIGEST_BYTES},
    codec,
    firearm::RecordRef,
    time::now_ms,
};

use super::{Ballistics, BallisticsError, Held, probe_from_surface, search::ask_holder};
use crate::{
    audit::{Direction, Event},
    ballistics::BallisticsNode,
    notices::rfc3339,
    store::StoreError,
};

/// Screening score from which another member's new exhibit becomes a lead for one of ours.
/// On the Fadul scans same-gun pairs average 0.105 and different-gun pairs 0.014 (a few
/// reach 0.10): the threshold keeps most mates and lets the holder's CMC comparison, not the
/// screen, decide.
pub const LEAD_SCREEN_THRESHOLD: f32 = 0.05;
/// Screening score from which another member's digest is taken for a copy of one of ours.
/// Two scans of the same gun score about 0.1 and rarely above 0.3; a republished digest
/// scores 1.0.
pub const DUPLICATE_SCREEN_THRESHOLD: f32 = 0.9;
/// Most digests waiting on disk to be screened; beyond, new ones are not screened for leads
/// (they are still found by searches).
pub(super) const MAX_LEAD_JOBS: usize = 16_384;
/// Own exhibits that one incoming digest can become a lead for.
const LEADS_PER_DIGEST: usize = 3;
/// Jobs one pass takes.
const JOBS_PER_PASS: usize = 4_096;
/// Approved leads retried per tick.
const RETRIES_PER_TICK: usize = 16;
/// The window of the automatic confirmation budget.
const DAY_MS: u64 = 86_400_000;
/// Largest stored job (a digest with its header).
const MAX_JOB_BYTES: usize = MAX_BALLISTIC_DIGEST_BYTES + 1_024;

/// A lead waiting for an operator's approval.
pub const PROPOSED: &str = "proposed";
/// A lead approved (by an operator or the budget) and not yet answered.
const PENDING: &str = "pending";

/// Work for the lead screener, as kept in `ballistic_lead_jobs`.
#[derive(Debug, PartialEq)]
pub(super) enum LeadJob {
    /// Another member published a digest.
    Digest(BureauId, BallisticDigest),
    /// Another member retracted an exhibit.
    Retracted(BureauId, ExhibitRef),
}

impl LeadJob {
    /// A tag byte, the origin, then the digest (canonical encoding) or the exhibit reference.
    fn encode(&self) -> Vec<u8> {
        let (tag, origin, rest) = match self {
            // A digest that arrived in a verified entry always encodes within its bound.
            LeadJob::Digest(o, d) => (0u8, o, codec::encode(d, MAX_JOB_BYTES).unwrap_or_default()),
            LeadJob::Retracted(o, r) => (1u8, o, r.0.to_vec()),
        };
        let mut out = Vec::with_capacity(1 + 32 + rest.len());
        out.push(tag);
        out.extend_from_slice(&origin.0);
        out.extend_from_slice(&rest);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (&tag, rest) = bytes.split_first()?;
        let origin = BureauId(<[u8; 32]>::try_from(rest.get(..32)?).ok()?);
        let rest = rest.get(32..)?;
        match tag {
            0 => Some(LeadJob::Digest(
                origin,
                codec::decode_stored(rest, MAX_JOB_BYTES).ok()?,
            )),
            1 => Some(LeadJob::Retracted(
                origin,
                RecordRef(<[u8; 16]>::try_from(rest).ok()?),
            )),
            _ => None,
        }
    }

    /// The jobs another member's entry gives.
    pub(super) fn of_entry(entry: &VerifiedEntry) -> Vec<LeadJob> {
        let origin = entry.entry.origin;
        match &entry.entry.body {
            Body::BallisticDigests(list) => list
                .iter()
                .map(|d| LeadJob::Digest(origin, d.clone()))
                .collect(),
            Body::BallisticRetractions(list) => list
                .iter()
                .map(|r| LeadJob::Retracted(origin, *r))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A job as kept: its key, and the job unless it no longer decodes.
type WaitingJob = (Vec<u8>, Option<LeadJob>);

/// A possible link between one of this node's exhibits and another member's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lead {
    /// Our exhibit.
    pub local_exhibit: String,
    /// The other member.
    pub bureau_id: BureauId,
    /// Its exhibit.
    pub exhibit_ref: String,
    /// Kind.
    pub kind: String,
    /// The other exhibit's caliber class.
    pub caliber_class: String,
    /// Screening score.
    pub screen_score: f32,
    /// `proposed` (awaiting approval), `pending`, `confirmed`, `not_confirmed`,
    /// `holder_offline`, ... (as in searches).
    pub confirmation: String,
    /// Details of a failure.
    pub detail: Option<String>,
    /// CMC count found by the holder.
    pub cmc_count: Option<u32>,
    /// CMC share.
    pub cmc_score: Option<f32>,
    /// When it was found.
    pub found_at_ms: u64,
    /// When the holder answered.
    pub confirmed_at_ms: Option<u64>,
    /// The reference of the user who approved it, as its confirmation request carries it
    /// (empty for automatic confirmations and leads approved before it was kept).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub approved_by: String,
}

impl Lead {
    fn key(&self) -> Vec<u8> {
        format!(
            "{}:{}:{}",
            self.local_exhibit,
            hex::encode(self.bureau_id.0),
            self.exhibit_ref
        )
        .into_bytes()
    }

    /// The lead's id in the API: 32 hex characters derived from its two exhibits.
    pub fn id(&self) -> String {
        hex::encode(&blake3::hash(&self.key()).as_bytes()[..16])
    }

    /// The API's view.
    pub fn to_json(&self, node: &BallisticsNode) -> Value {
        let mut v = json!({
            "id": self.id(),
            "local_exhibit": self.local_exhibit,
            "country": node.country_of(&self.bureau_id),
            "bureau_id": self.bureau_id.to_string(),
            "exhibit_ref": self.exhibit_ref,
            "kind": self.kind,
            "caliber_class": self.caliber_class,
            "screen_score": (f64::from(self.screen_score) * 10_000.0).round() / 10_000.0,
            "confirmed": self.confirmation == "confirmed",
            "confirmation": self.confirmation,
            "found_at": rfc3339(self.found_at_ms),
        });
        if let Ok(Some(ours)) = node.ballistics.record(&self.local_exhibit) {
            v["case_ref"] = json!(ours.case_ref);
        }
        if let Some(n) = self.cmc_count {
            v["confirm_score"] = json!(n);
            v["cmc_count"] = json!(n);
        }
        if let Some(s) = self.cmc_score {
            v["cmc_score"] = json!((f64::from(s) * 10_000.0).round() / 10_000.0);
        }
        if let Some(d) = &self.detail {
            v["detail"] = json!(d);
        }
        if let Some(at) = self.confirmed_at_ms {
            v["confirmed_at"] = json!(rfc3339(at));
        }
        v
    }
}

impl Ballistics {
    /// Keeps another member's digests and retractions of `entry` for lead screening; beyond
    /// `MAX_LEAD_JOBS` waiting, they are dropped with a warning (the exhibits are still found
    /// by searches). Returns how many were dropped.
    pub(super) fn queue_leads(&self, entry: &VerifiedEntry) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for job in LeadJob::of_entry(entry) {
            if self.lead_job_count.load(Ordering::Acquire) >= MAX_LEAD_JOBS {
                dropped += 1;
                continue;
            }
            let seq = self.lead_job_next.fetch_add(1, Ordering::AcqRel);
            self.lead_jobs.insert(seq.to_be_bytes(), job.encode())?;
            self.lead_job_count.fetch_add(1, Ordering::AcqRel);
        }
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "lead screening queue full: new digests were not screened for leads"
            );
        }
        Ok(dropped)
    }

    /// The oldest `n` waiting jobs with their keys (undecodable ones come back as `None`).
    fn waiting_jobs(&self, n: usize) -> Result<Vec<WaitingJob>, StoreError> {
        let mut out = Vec::new();
        for item in self.lead_jobs.iter().take(n) {
            let (key, value) = item?;
            out.push((key.to_vec(), LeadJob::decode(&value)));
        }
        Ok(out)
    }

    fn job_done(&self, key: &[u8]) -> Result<(), StoreError> {
        self.lead_jobs.remove(key)?;
        self.lead_job_count.fetch_sub(1, Ordering::AcqRel);
        Ok(())
    }

    /// Whether `member` may be sent one more confirmation request without an operator, and
    /// if so counts it against today's budget.
    fn take_auto_confirm(&self, member: &BureauId, now_ms: u64) -> bool {
        if self.lead_auto_budget == 0 {
            return false;
        }
        let day = now_ms / DAY_MS;
        let mut used = self
            .lead_auto_used
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Only roster members publish digests, so this map holds at most one row each.
        let (at_day, count) = used.entry(*member).or_insert((day, 0));
        if *at_day != day {
            (*at_day, *count) = (day, 0);
        }
        if *count >= self.lead_auto_budget {
            return false;
        }
        *count += 1;
        true
    }

    /// Leads, newest first.
    pub fn leads(&self) -> Result<Vec<Lead>, StoreError> {
        let mut out = Vec::new();
        for item in self.leads.iter() {
            let (_, v) = item?;
            out.push(
                serde_json::from_slice::<Lead>(&v)
                    .map_err(|e| StoreError::corrupt("ballistic_leads", e))?,
            );
        }
        out.sort_by_key(|l| std::cmp::Reverse(l.found_at_ms));
        Ok(out)
    }

    /// Drops the leads of one of our exhibits (it was retracted).
    pub(super) fn drop_leads_of(&self, local_exhibit: &str) -> Result<(), StoreError> {
        let prefix = format!("{local_exhibit}:");
        for item in self.leads.scan_prefix(prefix.as_bytes()) {
            let (key, _) = item?;
            self.leads.remove(key)?;
        }
        Ok(())
    }

    fn put_lead(&self, lead: &Lead) -> Result<(), StoreError> {
        let v = serde_json::to_vec(lead).map_err(|e| StoreError::corrupt("ballistic_leads", e))?;
        self.leads.insert(lead.key(), v)?;
        Ok(())
    }
}

/// An operator approves lead `id`: it is sent to its holder for confirmation (now if the
/// holder is connected, else once it is). The approval goes into the audit log.
pub async fn approve_lead(node: &BallisticsNode, id: &str) -> Result<Lead, BallisticsError> {
    let b = &node.ballistics;
    let mut lead = b
        .leads()?
        .into_iter()
        .find(|l| l.id() == id.trim())
        .ok_or_else(|| BallisticsError::NotFound(format!("no lead {id} at this node")))?;
    if lead.confirmation != PROPOSED {
        return Err(BallisticsError::Conflict(format!(
            "lead {id} is {}: only a proposed lead can be approved",
            lead.confirmation
        )));
    }
    lead.confirmation = PENDING.into();
    lead.approved_by = node.acting_reference();
    b.put_lead(&lead)?;
    let country = node.country_of(&lead.bureau_id);
    node.audit.record_or_log(Event {
        direction: Direction::Out,
        action: "lead_approved",
        peer: lead.bureau_id,
        peer_country: &country,
        subject: &lead.id(),
        details: json!({
            "local_exhibit": lead.local_exhibit,
            "exhibit_ref": lead.exhibit_ref,
            "screen_score": lead.screen_score,
        }),
    });
    node.store.flush().await?;
    start_pass(node);
    Ok(lead)
}

/// Starts a lead pass if none is running: screens the waiting jobs, then retries approved
/// leads whose holder could not confirm earlier. Runs as its own task, so the periodic work
/// goes on.
pub(super) fn start_pass(node: &BallisticsNode) {
    let b = &node.ballistics;
    if b.lead_busy.swap(true, Ordering::AcqRel) {
        return;
    }
    let node = node.clone();
    tokio::spawn(async move {
        // Clears the busy flag however the pass ends.
        struct Done(BallisticsNode);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.ballistics.lead_busy.store(false, Ordering::Release);
            }
        }
        let done = Done(node);
        let node = &done.0;
        if let Err(e) = screen_waiting(node).await {
            tracing::warn!("lead screening failed: {e}");
        }
        if let Err(e) = retry(node).await {
            tracing::warn!("lead confirmation retry failed: {e}");
        }
    });
}

/// Screens the oldest waiting jobs, each removed once handled.
async fn screen_waiting(node: &BallisticsNode) -> Result<(), StoreError> {
    let jobs = node.ballistics.waiting_jobs(JOBS_PER_PASS)?;
    if jobs.is_empty() {
        return Ok(());
    }
    for (key, job) in jobs {
        match job {
            Some(job) => {
                if let Err(e) = handle(node, job).await {
                    tracing::warn!("lead screening of one digest failed: {e}");
                }
            }
            None => tracing::warn!("a stored lead job does not decode; dropped"),
        }
        node.ballistics.job_done(&key)?;
    }
    node.store.flush().await
}

async fn handle(node: &BallisticsNode, job: LeadJob) -> Result<(), StoreError> {
    match job {
        LeadJob::Retracted(origin, r) => {
            for lead in node.ballistics.leads()? {
                if lead.bureau_id == origin && lead.exhibit_ref == r.to_hex() {
                    node.ballistics.leads.remove(lead.key())?;
                }
            }
            Ok(())
        }
        LeadJob::Digest(origin, published) => screen_digest(node, origin, published).await,
    }
}

/// Screens one digest another member published against our exhibits and keeps the leads.
async fn screen_digest(
    node: &BallisticsNode,
    origin: BureauId,
    published: BallisticDigest,
) -> Result<(), StoreError> {
    // Digests that do not decode were logged when the index skipped them.
    let Ok(digest) = Digest::from_bytes(&published.digest) else {
        return Ok(());
    };
    let held = Held {
        origin,
        exhibit_ref: published.exhibit_ref,
        kind: published.kind,
        caliber_class: published.caliber_class,
    };
    let worker = node.clone();
    let probe_held = held.clone();
    let hits = tokio::task::spawn_blocking(move || {
        worker.ballistics.own.read().search(
            &digest,
            probe_held.kind,
            &probe_held.caliber_class,
            None,
            LEADS_PER_DIGEST,
        )
    })
    .await
    .unwrap_or_default();
    if let Some((own, score)) = hits.first().filter(|h| h.1 >= DUPLICATE_SCREEN_THRESHOLD) {
        // A copy of our own digest: confirming it would hand our surface to whoever copied it.
        node.metrics.rejected("duplicate_digest");
        tracing::warn!(country = %node.country_of(&origin), remote = %held.exhibit_ref,
            local = %own.exhibit_ref, score,
            "a member published a copy of one of our ballistic digests: no lead");
        return Ok(());
    }
    for (own, score) in hits.into_iter().filter(|h| h.1 >= LEAD_SCREEN_THRESHOLD) {
        // Confirming would send our exhibit's surface to `origin`: only if it is shared
        // with it.
        if !node
            .ballistics
            .shared_with(&own.exhibit_ref.to_hex(), &origin)?
        {
            continue;
        }
        let mut lead = Lead {
            local_exhibit: own.exhibit_ref.to_hex(),
            bureau_id: held.origin,
            exhibit_ref: held.exhibit_ref.to_hex(),
            kind: held.kind.as_str().to_string(),
            caliber_class: held.caliber_class.clone(),
            screen_score: score,
            confirmation: PROPOSED.into(),
            detail: None,
            cmc_count: None,
            cmc_score: None,
            found_at_ms: now_ms(),
            confirmed_at_ms: None,
            approved_by: String::new(),
        };
        if node.ballistics.leads.contains_key(lead.key())? {
            // Already found (an entry applied again after a restart).
            continue;
        }
        let automatic = node.ballistics.take_auto_confirm(&held.origin, now_ms());
        if automatic {
            lead.confirmation = PENDING.into();
        }
        node.ballistics.put_lead(&lead)?;
        node.tally.add("leads", "found", 1);
        tracing::info!(local = %lead.local_exhibit, remote = %lead.exhibit_ref,
            country = %node.country_of(&held.origin), score, automatic, "ballistic lead found");
        if automatic {
            confirm(node, &mut lead).await?;
        }
    }
    Ok(())
}

/// Asks the lead's holder to compare our exhibit with theirs, and records the outcome.
async fn confirm(node: &BallisticsNode, lead: &mut Lead) -> Result<(), StoreError> {
    let b = &node.ballistics;
    let (Some(record), Some(surface), Some(remote)) = (
        b.record(&lead.local_exhibit)?,
        b.surface(&lead.local_exhibit)?,
        ExhibitRef::from_hex(&lead.exhibit_ref),
    ) else {
        return Ok(());
    };
    let search_id: [u8; 16] = rand::random();
    let outcome = ask_holder(
        node,
        lead.bureau_id,
        (search_id, lead.approved_by.clone()),
        &record.case_ref,
        probe_from_surface(&surface),
        vec![remote],
    )
    .await;
    match outcome {
        Ok(results) => {
            lead.detail = None;
            lead.confirmed_at_ms = Some(now_ms());
            match results.iter().find(|(r, _)| *r == remote).map(|(_, c)| c) {
                Some(Comparison::Compared {
                    cmc_count,
                    score,
                    confirmed,
                    ..
                }) => {
                    lead.cmc_count = Some(*cmc_count);
                    lead.cmc_score = Some(*score);
                    lead.confirmation = if *confirmed {
                        "confirmed"
                    } else {
                        "not_confirmed"
                    }
                    .into();
                }
                Some(Comparison::UnknownExhibit) => lead.confirmation = "unknown_exhibit".into(),
                Some(Comparison::NotComparable(why)) => {
                    lead.confirmation = "not_comparable".into();
                    lead.detail = Some(why.clone());
                }
                None => lead.confirmation = "holder_failed".into(),
            }
        }
        Err(e) => {
            lead.confirmation = e.status().into();
            lead.detail = Some(e.to_string());
        }
    }
    // The lead may have been removed meanwhile (retraction): only update a lead still held.
    if b.leads.contains_key(lead.key())? {
        b.put_lead(lead)?;
    }
    Ok(())
}

/// Retries approved leads whose holder was offline (never a lead still awaiting approval).
async fn retry(node: &BallisticsNode) -> Result<(), StoreError> {
    let waiting: Vec<Lead> = node
        .ballistics
        .leads()?
        .into_iter()
        .filter(|l| {
            matches!(l.confirmation.as_str(), PENDING | "holder_offline")
                && node.is_connected(&l.bureau_id)
        })
        .take(RETRIES_PER_TICK)
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    for mut lead in waiting {
        confirm(node, &mut lead).await?;
    }
    node.store.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use striae_protocol::ballistic::EvidenceKind;

    #[test]
    fn a_stored_job_decodes_to_what_was_queued() {
        let origin = BureauId([3; 32]);
        let digest = LeadJob::Digest(
            origin,
            BallisticDigest {
                exhibit_ref: RecordRef([5; 16]),
                kind: EvidenceKind::CartridgeCase,
                caliber_class: "cal:9x19".into(),
                digest: vec![1, 2, 3],
            },
        );
        let retracted = LeadJob::Retracted(origin, RecordRef([6; 16]));
        for job in [digest, retracted] {
            assert_eq!(LeadJob::decode(&job.encode()), Some(job));
        }
        assert_eq!(LeadJob::decode(&[9; 40]), None);
        assert_eq!(LeadJob::decode(&[1; 20]), None);
    }
}
