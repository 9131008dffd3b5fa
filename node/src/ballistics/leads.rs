//! Automatic leads: every digest another member publishes is screened against this node's own
//! exhibits; exhibits scoring at least `LEAD_SCREEN_THRESHOLD` (at most a few per digest)
//! become leads, kept in the `ballistic_leads` tree. The holder of the new exhibit is then
//! asked to confirm it against our exhibit (our prepared surface is the probe), and the lead
//! shows the outcome. Leads whose holder was offline are retried on later ticks. Screening
//! runs on the periodic tick (every 5 s), in a task of its own, never on the replication core.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use striae_ballistics_lib::signature::Digest;
use striae_protocol::{
    BureauId,
    ballistic::{Comparison, ExhibitRef},
    time::now_ms,
};
use tokio::sync::mpsc::error::TrySendError;

use super::{Ballistics, Held, IndexOp, probe_from_surface, search::ask_holder};
use crate::{ballistics::BallisticsNode, notices::rfc3339, store::StoreError};

/// Screening score from which another member's new exhibit becomes a lead for one of ours.
/// On the Fadul scans same-gun pairs average 0.105 and different-gun pairs 0.014 (a few
/// reach 0.10): the threshold keeps most mates and lets the holder's CMC comparison, not the
/// screen, decide.
pub const LEAD_SCREEN_THRESHOLD: f32 = 0.05;
/// Own exhibits that one incoming digest can become a lead for.
const LEADS_PER_DIGEST: usize = 3;
/// Jobs one pass takes (more than the queue holds: a pass empties it).
const JOBS_PER_PASS: usize = 4 * super::LEAD_QUEUE;
/// Unconfirmed leads retried per tick.
const RETRIES_PER_TICK: usize = 16;

/// Work for the lead screener.
pub(super) enum LeadJob {
    /// Another member published a digest.
    Digest(Held, Digest),
    /// Another member retracted an exhibit.
    Retracted(BureauId, ExhibitRef),
}

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
    /// `pending`, `confirmed`, `not_confirmed`, `holder_offline`, ... (as in searches).
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

    /// The API's view.
    pub fn to_json(&self, node: &BallisticsNode) -> Value {
        let mut v = json!({
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
    /// Queues lead screening for another member's digest or retraction; a full queue drops
    /// the job with a warning (the exhibit is still found by searches).
    pub(super) fn queue_lead(&self, op: &IndexOp) {
        let job = match op {
            IndexOp::Insert(held, digest) => LeadJob::Digest(held.clone(), digest.clone()),
            IndexOp::Remove(origin, r) => LeadJob::Retracted(*origin, *r),
        };
        if let Err(TrySendError::Full(_)) = self.lead_tx.try_send(job) {
            tracing::warn!("lead screening queue full: a new digest was not screened for leads");
        }
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

/// Starts a lead pass if none is running: takes the queued jobs, then retries leads whose
/// holder could not confirm earlier. Runs as its own task, so the periodic work goes on.
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
        let mut jobs = Vec::new();
        if let Ok(mut rx) = node.ballistics.lead_rx.try_lock() {
            while jobs.len() < JOBS_PER_PASS {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        for job in jobs {
            if let Err(e) = handle(node, job).await {
                tracing::warn!("lead screening failed: {e}");
            }
        }
        if let Err(e) = retry(node).await {
            tracing::warn!("lead confirmation retry failed: {e}");
        }
    });
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
        LeadJob::Digest(held, digest) => {
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
            for (own, score) in hits.into_iter().filter(|h| h.1 >= LEAD_SCREEN_THRESHOLD) {
                let mut lead = Lead {
                    local_exhibit: own.exhibit_ref.to_hex(),
                    bureau_id: held.origin,
                    exhibit_ref: held.exhibit_ref.to_hex(),
                    kind: held.kind.as_str().to_string(),
                    caliber_class: held.caliber_class.clone(),
                    screen_score: score,
                    confirmation: "pending".into(),
                    detail: None,
                    cmc_count: None,
                    cmc_score: None,
                    found_at_ms: now_ms(),
                    confirmed_at_ms: None,
                };
                if node.ballistics.leads.contains_key(lead.key())? {
                    // Already found (an entry applied again after a restart).
                    continue;
                }
                node.ballistics.put_lead(&lead)?;
                tracing::info!(local = %lead.local_exhibit, remote = %lead.exhibit_ref,
                    country = %node.country_of(&held.origin), score, "ballistic lead found");
                confirm(node, &mut lead).await?;
            }
            node.store.flush().await
        }
    }
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
        search_id,
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

/// Retries leads whose holder was offline or failed.
async fn retry(node: &BallisticsNode) -> Result<(), StoreError> {
    let waiting: Vec<Lead> = node
        .ballistics
        .leads()?
        .into_iter()
        .filter(|l| {
            matches!(l.confirmation.as_str(), "pending" | "holder_offline")
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
