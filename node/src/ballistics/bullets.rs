//! Bullets at this node: adding one (each land's X3P file read, its signature taken, the
//! bullet's digest published; the files kept in the blob store, the signatures kept for
//! confirmation), and the in-memory index of every member's bullet digests that searches
//! screen.

use std::{
    collections::HashMap,
    sync::{Mutex, RwLock},
};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use striae_ballistics_lib::{
    bullet::{Bullet, BulletDigest, bullet_digest, bullet_screen_score, prepare_bullet},
    x3p::{X3pInfo, read_x3p},
};
use striae_protocol::{
    Body, BureauId, VerifiedEntry,
    ballistic::{BallisticDigest, EvidenceKind, ExhibitRef},
    bullet::MAX_BULLET_PROBE_BYTES,
    time::now_ms,
};

use super::{
    AddRequest, BallisticsError, ExhibitRecord, Held, classes_compatible,
    exhibits::{
        ScanSummary, on_cpu, parse_caliber, parse_case_ref, parse_share, store_and_publish,
    },
};
use crate::ballistics::BallisticsNode;

/// One land's file as kept with a bullet exhibit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LandFile {
    /// blake3 of the land's raw X3P file in the blob store.
    pub blob: String,
    /// Size of the file.
    pub blob_bytes: u64,
    /// What the file held.
    pub scan: ScanSummary,
}

/// The name under which a bullet's set of land files is known (blake3 over the lands' blob
/// names in land order), so that the same set uploaded as a probe is recognised.
pub(super) fn lands_name(blobs: &[String]) -> String {
    let mut hasher = blake3::Hasher::new();
    for blob in blobs {
        hasher.update(blob.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

/// A bullet read and prepared off the runtime.
pub(super) struct PreparedBullet {
    /// What each land's file held, in land order.
    pub infos: Vec<X3pInfo>,
    /// The lands' signatures.
    pub bullet: Bullet,
    /// Its digest.
    pub digest: BulletDigest,
}

/// Reads and prepares the lands of a bullet (CPU work: call it from a blocking thread).
pub(super) fn prepare_lands(files: &[Vec<u8>]) -> Result<PreparedBullet, BallisticsError> {
    let mut scans = Vec::with_capacity(files.len());
    let mut infos = Vec::with_capacity(files.len());
    for (i, bytes) in files.iter().enumerate() {
        let scan = read_x3p(bytes).map_err(|e| BallisticsError::Field {
            field: "body",
            message: format!("land {} is not a usable X3P file: {e}", i + 1),
        })?;
        infos.push(scan.inspect());
        scans.push(scan);
    }
    let bullet = prepare_bullet(&scans).map_err(|e| BallisticsError::Field {
        field: "body",
        message: format!("the lands cannot be compared as a bullet: {e}"),
    })?;
    let digest = bullet_digest(&bullet);
    Ok(PreparedBullet {
        infos,
        bullet,
        digest,
    })
}

/// Adds a bullet: checks the request, prepares its lands, keeps the files, the record and
/// the signatures, publishes the digest and makes it all durable.
pub async fn add_bullet(
    node: &BallisticsNode,
    request: AddRequest,
    files: Vec<Vec<u8>>,
) -> Result<(ExhibitRecord, Vec<String>), BallisticsError> {
    let (caliber, class) = parse_caliber(request.caliber.as_deref())?;
    let case_ref = parse_case_ref(request.case_ref.as_deref(), true)?;
    let share = parse_share(node, request.share.as_deref())?;
    let sizes: Vec<u64> = files.iter().map(|f| f.len() as u64).collect();
    let (prepared, files) = on_cpu(node, move || {
        prepare_lands(&files).map(|prepared| (prepared, files))
    })
    .await??;
    let mut blobs = Vec::with_capacity(files.len());
    for file in files {
        blobs.push(node.ballistics.blobs.put(file).await?);
    }
    let signatures = prepared.bullet.to_bytes();
    if signatures.len() > MAX_BULLET_PROBE_BYTES {
        return Err(BallisticsError::Field {
            field: "body",
            message: "the lands' signatures are too long to compare (scans wider than 8 mm?)"
                .into(),
        });
    }
    let lands: Vec<LandFile> = blobs
        .iter()
        .zip(&sizes)
        .zip(&prepared.infos)
        .map(|((blob, bytes), info)| LandFile {
            blob: blob.clone(),
            blob_bytes: *bytes,
            scan: ScanSummary::of(info),
        })
        .collect();
    let exhibit_ref = striae_protocol::firearm::RecordRef(rand::random());
    let digest_bytes = prepared.digest.to_bytes();
    let record = ExhibitRecord {
        id: exhibit_ref.to_hex(),
        holder: node.me,
        kind: EvidenceKind::Bullet.as_str().to_string(),
        caliber,
        caliber_class: class.class.clone(),
        caliber_known: class.known,
        case_ref,
        blob: lands_name(&blobs),
        blob_bytes: sizes.iter().sum(),
        created_at_ms: now_ms(),
        digest: hex::encode(&digest_bytes),
        scan: lands[0].scan.clone(),
        surface_points: prepared.bullet.lands.len(),
        retracted_at_ms: None,
        lands,
        share,
    };
    let digest = BallisticDigest {
        exhibit_ref,
        kind: EvidenceKind::Bullet,
        caliber_class: class.class.clone(),
        digest: digest_bytes,
    };
    store_and_publish(node, &record, signatures, digest).await?;
    node.store.flush().await?;
    let mut warnings: Vec<String> = prepared
        .infos
        .iter()
        .enumerate()
        .flat_map(|(i, info)| {
            info.warnings
                .iter()
                .map(move |w| format!("land {}: {w}", i + 1))
        })
        .collect();
    warnings.extend(super::exhibits::caliber_warning(&class, &record.caliber));
    tracing::info!(exhibit = %record.id, lands = record.lands.len(), "bullet added");
    Ok((record, warnings))
}

/// A change to the bullet index.
pub enum BulletOp {
    /// Hold (or replace) a bullet's digest.
    Insert(Held, BulletDigest),
    /// Drop an exhibit's digest.
    Remove(BureauId, ExhibitRef),
}

/// The bullet digests an entry carries, and its retractions; digests that do not decode are
/// skipped (the entry stays signed and stored; only screening cannot use them).
pub(super) fn bullet_ops(entry: &VerifiedEntry) -> Vec<BulletOp> {
    let origin = entry.entry.origin;
    match &entry.entry.body {
        Body::BallisticDigests(list) => list
            .iter()
            .filter(|d| d.kind == EvidenceKind::Bullet)
            .filter_map(|d| match BulletDigest::from_bytes(&d.digest) {
                Ok(digest) => Some(BulletOp::Insert(
                    Held {
                        origin,
                        exhibit_ref: d.exhibit_ref,
                        kind: d.kind,
                        caliber_class: d.caliber_class.clone(),
                    },
                    digest,
                )),
                Err(e) => {
                    tracing::warn!(%origin, exhibit = %d.exhibit_ref, "unusable bullet digest: {e}");
                    None
                }
            })
            .collect(),
        Body::BallisticRetractions(list) => list
            .iter()
            .map(|r| BulletOp::Remove(origin, *r))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every bullet digest held, this node's included. Bullets are screened exhaustively, each
/// candidate at every phase; changes queue up so the replication core never waits on a
/// search.
#[derive(Default)]
pub struct BulletIndex {
    held: RwLock<HashMap<(BureauId, ExhibitRef), (Held, BulletDigest)>>,
    pending: Mutex<Vec<BulletOp>>,
}

impl BulletIndex {
    /// Queues a change and applies the queue if the index is free.
    pub fn apply(&self, op: BulletOp) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.push(op);
        }
        if let Ok(mut held) = self.held.try_write() {
            self.drain_into(&mut held);
        }
    }

    fn drain_into(&self, held: &mut HashMap<(BureauId, ExhibitRef), (Held, BulletDigest)>) {
        let ops = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        for op in ops {
            match op {
                BulletOp::Insert(h, digest) => {
                    held.insert((h.origin, h.exhibit_ref), (h, digest));
                }
                BulletOp::Remove(origin, exhibit_ref) => {
                    held.remove(&(origin, exhibit_ref));
                }
            }
        }
    }

    /// The member holding the bullet `exhibit`, if any member does.
    pub fn holder_of(&self, exhibit: &ExhibitRef) -> Option<BureauId> {
        let queued = self.pending.lock().map(|p| !p.is_empty()).unwrap_or(false);
        if queued {
            let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
            self.drain_into(&mut held);
        }
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        held.keys()
            .find(|(_, r)| r == exhibit)
            .map(|(origin, _)| *origin)
    }

    /// Bullets held (after queued changes).
    pub fn len(&self) -> usize {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        self.drain_into(&mut held);
        held.len()
    }

    /// Whether no bullet is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` best-scoring bullets of classes compatible with `class`, best first, leaving
    /// out `exclude` (the probe itself). CPU work: call it off the async runtime.
    pub fn search(
        &self,
        probe: &BulletDigest,
        class: &str,
        exclude: Option<(BureauId, ExhibitRef)>,
        k: usize,
    ) -> Vec<(Held, f32)> {
        let queued = self.pending.lock().map(|p| !p.is_empty()).unwrap_or(false);
        if queued {
            let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
            self.drain_into(&mut held);
        }
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(Held, f32)> = held
            .par_iter()
            .filter(|(key, (h, _))| {
                Some(**key) != exclude && classes_compatible(class, &h.caliber_class)
            })
            .map(|(_, (h, digest))| (h.clone(), bullet_screen_score(probe, digest)))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.truncate(k);
        out
    }
}
