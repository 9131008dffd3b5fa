//! Ballistic exhibits at this node, the digests held from every member, searches,
//! confirmation at the holder and automatic leads.
//!
//! - `blobs`: the content-addressed store of raw X3P files;
//! - `exhibits`: adding (read, prepare, digest, store, publish), listing and retracting this
//!   node's exhibits;
//! - `index`: the in-memory screening index over every digest held;
//! - `bullets`, `lands`, `bullet_search`: bullets (a set of land scans): the upload's lands,
//!   adding a bullet, the bullet index, searching and the holder's phase comparison;
//! - `search`: screening a probe network-wide and asking the holders to confirm;
//! - `holder`: answering other members' confirmation requests;
//! - `exchange`: the signed, audited request and answer every exchange with a holder uses;
//! - `picture`, `bullet_picture`: pictures of a comparison (cartridge cases: congruent
//!   cells on both surfaces; bullets: matched lands aligned), drawn by the holder only for a
//!   confirmed match;
//! - `sharing`: who an exhibit's digest goes to (network, a named list of members, nobody),
//!   the outbox of digests sent to a list and the digests members shared with this node;
//! - `leads`: screening other members' new digests against this node's exhibits, and the
//!   operator's approval before a lead is sent for confirmation;
//! - `seed`: example exhibits for the devnet.

mod blobs;
mod bullet_picture;
mod bullet_search;
mod bullets;
mod exchange;
mod exhibits;
mod holder;
pub mod index;
mod lands;
mod leads;
mod picture;
mod search;
mod seed;
mod sharing;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

use futures::future::BoxFuture;
use striae_ballistics_lib::{
    bullet::Bullet,
    cmc::CmcParams,
    preprocess::{PrepParams, Surface},
    signature::Digest,
};
use striae_protocol::{
    Body, BureauId, SyncRequest, SyncResponse, VerifiedEntry,
    ballistic::{EvidenceKind, MAX_CONFIRM_BYTES, ProbeSurface},
    codec,
};
use tokio::sync::Semaphore;

pub use blobs::{
    BlobError, BlobStore, FsBlobStore, MAX_BLOB_BYTES, ObjectBlobStore, open as open_blobs,
};
pub use bullet_picture::comparison_png;
pub use bullet_search::{
    BulletProbe, BulletSearchResult, on_bullet_confirm_request, search_bullet,
};
pub use bullets::{BulletIndex, add_bullet};
pub use exhibits::{AddRequest, ExhibitRecord, add_exhibit, inspect, retract_exhibit};
pub use holder::{confirm_locally, on_confirm_request};
pub use index::{Held, IndexOp, ScreeningIndex, Shelf, UNKNOWN_CLASS, classes_compatible};
pub use lands::split_lands;
pub use leads::{DUPLICATE_SCREEN_THRESHOLD, LEAD_SCREEN_THRESHOLD, Lead, PROPOSED, approve_lead};
pub use picture::on_picture_request;
pub use search::{CONFIRM_TOP, Candidate, Probe, SearchRequest, SearchResult, search};
pub use seed::seed_devnet;
pub use sharing::on_shared_digests;

use crate::{
    config::NodeConfig,
    context::Context,
    core::{Capability, CoreError},
    store::{Keyspace, Store, StoreError},
};

/// Why a ballistic operation failed, in terms the API turns into an answer.
#[derive(Debug, thiserror::Error)]
pub enum BallisticsError {
    /// A field of the request (query parameter, body) is wrong: 400.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A request the node understands but does not support (yet): 422.
    #[error("{field}: {message}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// What is not supported.
        message: String,
    },
    /// No such exhibit here: 404.
    #[error("{0}")]
    NotFound(String),
    /// The thing exists but is not in a state that allows this: 409.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blob store failed: 500.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A digest or a retraction could not be published: 500.
    #[error("the {what} could not be published: {source}")]
    Publish {
        /// What was to be published (`digest`, `retraction`).
        what: &'static str,
        /// Why it was not.
        #[source]
        source: CoreError,
    },
    /// Work on a blocking thread failed (it panicked or was cancelled): 500.
    #[error("{what} failed: {source}")]
    Task {
        /// The work (`scan processing`, `screening`).
        what: &'static str,
        /// The task's failure.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The node is shutting down (no CPU permit can be had any more): 500.
    #[error("the node is shutting down")]
    ShuttingDown(#[source] tokio::sync::AcquireError),
    /// A stored exhibit lacks its digest, kind or reference: 500.
    #[error("exhibit {0} is stored damaged")]
    Damaged(String),
    /// A stored exhibit's id is not an exhibit reference: 500.
    #[error("exhibit {0} has a bad id")]
    BadId(String),
}

/// Exhibits, the screening index, leads.
pub struct Ballistics {
    exhibits: Keyspace,
    surfaces: Keyspace,
    /// blake3 of an exhibit's raw file -> exhibit id, so an uploaded probe that is one of
    /// this node's exhibits is left out of its own results.
    by_blob: Keyspace,
    leads: Keyspace,
    blobs: Box<dyn BlobStore>,
    /// Every digest held, this node's included.
    all: Shelf,
    /// This node's own exhibits only (for leads).
    own: Shelf,
    /// Every bullet digest held, this node's included.
    bullets: BulletIndex,
    /// How new exhibits are shared unless a request says otherwise, and the named lists.
    sharing: crate::config::SharingPolicy,
    /// Digests shared with a list, per member, until that member acknowledges them.
    share_outbox: Keyspace,
    /// Digests other members shared with this node only or with a list including it.
    shared_in: Keyspace,
    /// Digests kept in `shared_in`, per member.
    shared_counts: Mutex<HashMap<BureauId, usize>>,
    /// An outbox delivery pass is running.
    delivering: AtomicBool,
    /// Other members' digests and retractions waiting to be screened for leads.
    lead_jobs: Keyspace,
    /// The key of the next job.
    lead_job_next: AtomicU64,
    /// Jobs waiting.
    lead_job_count: AtomicUsize,
    /// Confirmation requests each member may be sent per day without an operator.
    lead_auto_budget: u32,
    /// Automatic confirmations used, per member: (day, count).
    lead_auto_used: Mutex<HashMap<BureauId, (u64, u32)>>,
    /// A lead pass is running.
    lead_busy: AtomicBool,
    /// Bounds concurrent CMC work (each comparison keeps a core busy).
    cpu: Arc<Semaphore>,
    prep: PrepParams,
    cmc: CmcParams,
}

impl Ballistics {
    /// Digests indexed (cartridge cases unless the index is busy, bullets) for metrics.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        let mut sizes = vec![("bullet_digests", self.bullets.len())];
        if let Some(n) = self.all.len_now() {
            sizes.push(("cartridge_case_digests", n));
        }
        sizes
    }

    /// The folder of the raw scans, when they are files on this machine.
    pub fn blob_folder(&self) -> Option<std::path::PathBuf> {
        self.blobs.folder().map(std::path::Path::to_path_buf)
    }

    /// Work waiting: other members' digests to screen for leads, digests to share with lists.
    pub fn queue_depths(&self) -> [(&'static str, usize); 2] {
        [
            ("lead_jobs", self.lead_job_count.load(Ordering::Relaxed)),
            ("share_outbox", self.share_outbox.count()),
        ]
    }

    /// Opens the exhibits and indexes this node's own, and what never went into a feed (our
    /// exhibits kept local or shared with a list, digests shared with us); the screening
    /// index of every published digest is rebuilt from the stored feeds by the node. Raw
    /// scans go to `blobs` (see `open_blobs`).
    pub fn open(
        store: &Store,
        config: &NodeConfig,
        blobs: Box<dyn BlobStore>,
        me: BureauId,
    ) -> Result<Self, StoreError> {
        let lead_jobs = store.keyspace("ballistic_lead_jobs")?;
        let lead_job_next = match lead_jobs.last()? {
            Some((key, _)) => <[u8; 8]>::try_from(key.as_ref())
                .map(|k| u64::from_be_bytes(k) + 1)
                .map_err(|_| StoreError::corrupt("ballistic_lead_jobs", "key is not 8 bytes"))?,
            None => 0,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ballistics = Ballistics {
            exhibits: store.keyspace("ballistic_exhibits")?,
            surfaces: store.keyspace("ballistic_surfaces")?,
            by_blob: store.keyspace("ballistic_by_blob")?,
            leads: store.keyspace("ballistic_leads")?,
            blobs,
            all: Shelf::default(),
            own: Shelf::default(),
            bullets: BulletIndex::default(),
            sharing: config.sharing.clone(),
            share_outbox: store.keyspace("ballistic_share_outbox")?,
            shared_in: store.keyspace("ballistic_shared_in")?,
            shared_counts: Mutex::new(HashMap::new()),
            delivering: AtomicBool::new(false),
            lead_job_count: AtomicUsize::new(lead_jobs.count()),
            lead_jobs,
            lead_job_next: AtomicU64::new(lead_job_next),
            lead_auto_budget: config.tuning.lead_auto_confirms_per_day,
            lead_auto_used: Mutex::new(HashMap::new()),
            lead_busy: AtomicBool::new(false),
            cpu: Arc::new(Semaphore::new(cores)),
            prep: PrepParams::default(),
            cmc: CmcParams::default(),
        };
        for record in ballistics.own_records()? {
            if let Some(op) = record.index_op() {
                ballistics.own.apply(op);
            }
        }
        ballistics.index_unpublished(me)?;
        Ok(ballistics)
    }

    /// Every digest held, for screening.
    pub fn index(&self) -> &Shelf {
        &self.all
    }

    /// This node's exhibits (retracted ones included), oldest first.
    pub fn own_records(&self) -> Result<Vec<ExhibitRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.exhibits.iter() {
            let (_, value) = item?;
            out.push(ExhibitRecord::decode(&value)?);
        }
        out.sort_by_key(|r| r.created_at_ms);
        Ok(out)
    }

    /// One of this node's exhibits by id.
    pub fn record(&self, id: &str) -> Result<Option<ExhibitRecord>, StoreError> {
        match self.exhibits.get(id.as_bytes())? {
            Some(v) => Ok(Some(ExhibitRecord::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// The prepared surface of one of this node's exhibits.
    pub fn surface(&self, id: &str) -> Result<Option<Surface>, StoreError> {
        let Some(bytes) = self.surfaces.get(id.as_bytes())? else {
            return Ok(None);
        };
        let probe: ProbeSurface = codec::decode_stored(&bytes, MAX_CONFIRM_BYTES)
            .map_err(|e| StoreError::corrupt("ballistic_surfaces", e))?;
        Ok(Some(surface_from_probe(&probe)))
    }

    /// The land signatures of one of this node's bullets.
    pub fn bullet(&self, id: &str) -> Result<Option<Bullet>, StoreError> {
        let Some(bytes) = self.surfaces.get(id.as_bytes())? else {
            return Ok(None);
        };
        Bullet::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| StoreError::corrupt("ballistic_surfaces", e))
    }

    /// Whether this node's exhibit `id` may be compared for, or shown to, `member`.
    pub fn shared_with(&self, id: &str, member: &BureauId) -> Result<bool, StoreError> {
        Ok(self
            .record(id)?
            .is_some_and(|r| r.share.includes(member, &r.holder)))
    }

    /// Every bullet digest held.
    pub fn bullet_index(&self) -> &BulletIndex {
        &self.bullets
    }

    /// This node's active exhibit whose raw file is exactly `bytes`, if any.
    pub fn exhibit_with_file(&self, bytes: &[u8]) -> Result<Option<ExhibitRecord>, StoreError> {
        self.exhibit_with_name(blake3::hash(bytes).to_hex().as_str())
    }

    /// This node's active exhibit whose blob (or, for a bullet, set of land blobs) is named
    /// `name`, if any.
    pub fn exhibit_with_name(&self, name: &str) -> Result<Option<ExhibitRecord>, StoreError> {
        let Some(id) = self.by_blob.get(name.as_bytes())? else {
            return Ok(None);
        };
        let record = self.record(&String::from_utf8_lossy(&id))?;
        Ok(record.filter(|r| r.retracted_at_ms.is_none()))
    }

    /// The raw scan of one of this node's exhibits (checked against its name).
    pub async fn blob(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.blobs.get(name).await
    }

    /// The preprocessing every member uses (surfaces compared must share the grid).
    pub fn prep_params(&self) -> &PrepParams {
        &self.prep
    }
}

/// The index changes an entry carries; digests that do not decode are skipped (the entry is
/// signed and stored all the same; only screening cannot use them).
fn index_ops(entry: &VerifiedEntry) -> Vec<IndexOp> {
    let origin = entry.entry.origin;
    match &entry.entry.body {
        Body::BallisticDigests(list) => list
            .iter()
            .filter(|d| d.kind == EvidenceKind::CartridgeCase)
            .filter_map(|d| match Digest::from_bytes(&d.digest) {
                Ok(digest) => Some(IndexOp::Insert(
                    Held {
                        origin,
                        exhibit_ref: d.exhibit_ref,
                        kind: d.kind,
                        caliber_class: d.caliber_class.clone(),
                    },
                    digest,
                )),
                Err(e) => {
                    tracing::warn!(%origin, exhibit = %d.exhibit_ref, "unusable ballistic digest: {e}");
                    None
                }
            })
            .collect(),
        Body::BallisticRetractions(list) => list
            .iter()
            .map(|r| IndexOp::Remove(origin, *r))
            .collect(),
        _ => Vec::new(),
    }
}

/// A prepared surface as sent for confirmation.
pub fn probe_from_surface(s: &Surface) -> ProbeSurface {
    ProbeSurface {
        nx: u32::try_from(s.nx).unwrap_or(0),
        ny: u32::try_from(s.ny).unwrap_or(0),
        pixel_um: s.pixel_um,
        center_x: s.center.0,
        center_y: s.center.1,
        z: s.z.clone(),
    }
}

/// A received probe as a surface (shape checked by `ProbeSurface::check` beforehand; an
/// inconsistent one compares as empty).
pub fn surface_from_probe(p: &ProbeSurface) -> Surface {
    Surface {
        nx: p.nx as usize,
        ny: p.ny as usize,
        pixel_um: p.pixel_um,
        z: p.z.clone(),
        center: (p.center_x, p.center_y),
    }
}

/// The ballistic capability as the node holds it: its state and the context it works in.
/// Cheap to clone; it reads as its context (`node.me`, `node.publish(..)`).
#[derive(Clone)]
pub struct BallisticsNode {
    ctx: Context,
    /// Exhibits, the screening index, leads.
    pub ballistics: Arc<Ballistics>,
}

impl BallisticsNode {
    /// The capability over `ballistics`, working in `ctx`.
    pub fn new(ctx: Context, ballistics: Ballistics) -> Self {
        BallisticsNode {
            ctx,
            ballistics: Arc::new(ballistics),
        }
    }
}

impl std::ops::Deref for BallisticsNode {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl Capability for BallisticsNode {
    fn name(&self) -> &'static str {
        "ballistics"
    }

    fn replay(&self, entry: &VerifiedEntry, _received_at_ms: u64) {
        for op in index_ops(entry) {
            self.ballistics.all.apply(op);
        }
        for op in bullets::bullet_ops(entry) {
            self.ballistics.bullets.apply(op);
        }
    }

    /// The screening index follows at once; other members' new digests are kept for lead
    /// screening.
    fn apply(&self, run: &[VerifiedEntry], _received_at_ms: u64) -> Result<(), StoreError> {
        for entry in run {
            if entry.entry.origin != self.me {
                for _ in 0..self.ballistics.queue_leads(entry)? {
                    self.metrics.rejected("lead_queue_full");
                }
            }
            for op in index_ops(entry) {
                self.ballistics.all.apply(op);
            }
            for op in bullets::bullet_ops(entry) {
                self.ballistics.bullets.apply(op);
            }
        }
        Ok(())
    }

    fn claims(&self, request: &SyncRequest) -> bool {
        matches!(
            request,
            SyncRequest::Confirm(_)
                | SyncRequest::BulletConfirm(_)
                | SyncRequest::SharedDigests(_)
                | SyncRequest::Picture(_)
        )
    }

    fn on_request(&self, from: BureauId, request: SyncRequest) -> BoxFuture<'_, SyncResponse> {
        Box::pin(async move {
            match request {
                SyncRequest::Confirm(message) => on_confirm_request(self, from, message).await,
                SyncRequest::BulletConfirm(message) => {
                    on_bullet_confirm_request(self, from, message).await
                }
                SyncRequest::SharedDigests(message) => on_shared_digests(self, from, message).await,
                SyncRequest::Picture(message) => on_picture_request(self, from, message).await,
                _ => SyncResponse::Refused("not a ballistic request".into()),
            }
        })
    }

    /// Screens other members' new digests for leads and retries approved lead confirmations
    /// whose holder was offline.
    fn tick(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            leads::start_pass(self);
            sharing::start_delivery(self);
        })
    }
}
