//! This node's exhibits: adding a scan (read and check the X3P file, prepare the breech face,
//! compute its digest, keep the raw file in the blob store and the prepared surface for
//! confirmation, publish the digest), listing them, and retracting one.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use striae_ballistics_lib::{
    preprocess::prepare,
    signature::{Digest, digest},
    x3p::{X3pInfo, read_x3p},
};
use striae_firearms_lib::ReferenceTable;
use striae_protocol::{
    BureauId,
    ballistic::{
        BallisticDigest, EvidenceKind, ExhibitRef, MAX_CALIBER_CLASS_CHARS, MAX_CONFIRM_BYTES,
    },
    codec,
    time::now_ms,
};

use super::{BallisticsError, Held, IndexOp, UNKNOWN_CLASS, probe_from_surface, sharing};
use crate::{ballistics::BallisticsNode, config::Share, notices::rfc3339, store::StoreError};

/// Largest side of a prepared surface, in points: 12.8 mm at 12.5 µm, well beyond any
/// primer (a 9 mm Luger primer is 4.4 mm across). CMC work grows with the square of the
/// side, so larger surfaces are refused rather than compared.
pub(super) const MAX_SURFACE_SIDE: usize = 1024;

/// Why a surface (prepared here or received) is too large to compare, if it is.
pub(super) fn surface_too_large(nx: usize, ny: usize, pixel_um: f64) -> Option<String> {
    (nx.max(ny) > MAX_SURFACE_SIDE).then(|| {
        format!(
            "the breech-face region is {:.1} x {:.1} mm; at most {:.1} mm a side can be compared (crop the scan to the primer)",
            nx as f64 * pixel_um / 1000.0,
            ny as f64 * pixel_um / 1000.0,
            MAX_SURFACE_SIDE as f64 * pixel_um / 1000.0
        )
    })
}

/// Longest case reference accepted.
pub(super) const MAX_CASE_REF_CHARS: usize = 128;

/// What `POST /v1/ballistics` asks for besides the file.
#[derive(Clone, Debug, Default)]
pub struct AddRequest {
    /// `cartridge_case` or `bullet`.
    pub kind: Option<String>,
    /// The caliber as the analyst writes it ("9mm Luger", "9x19").
    pub caliber: Option<String>,
    /// The bureau's case reference.
    pub case_ref: Option<String>,
    /// `network`, `local` or `region:NAME` (the node's default when absent).
    pub share: Option<String>,
}

/// What the scan file held, as kept with the exhibit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScanSummary {
    size_x: usize,
    size_y: usize,
    increment_x: f64,
    increment_y: f64,
    data_type: String,
    valid_points: usize,
    creator: Option<String>,
    instrument: Option<String>,
    date: Option<String>,
}

impl ScanSummary {
    pub(super) fn of(info: &X3pInfo) -> Self {
        ScanSummary {
            size_x: info.size_x,
            size_y: info.size_y,
            increment_x: info.increment_x,
            increment_y: info.increment_y,
            data_type: info.data_type.to_string(),
            valid_points: info.valid_points,
            creator: info.creator.clone(),
            instrument: info.instrument.clone(),
            date: info.date.clone(),
        }
    }
}

/// One of this node's exhibits (tree `ballistic_exhibits`, key = id, JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExhibitRecord {
    /// The exhibit reference (32 hex), published as `exhibit_ref`.
    pub id: String,
    /// This node, when the exhibit was added.
    pub holder: BureauId,
    /// `cartridge_case`.
    pub kind: String,
    /// The caliber as entered.
    pub caliber: String,
    /// The caliber class it was published under (a reference-table id, or "unknown").
    pub caliber_class: String,
    /// Whether the reference table knew the caliber.
    pub caliber_known: bool,
    /// The bureau's case reference (never published).
    pub case_ref: String,
    /// blake3 of the raw X3P file in the blob store.
    pub blob: String,
    /// Size of the raw file.
    pub blob_bytes: u64,
    /// When it was added, ms since the epoch.
    pub created_at_ms: u64,
    /// The published digest (hex).
    pub digest: String,
    /// What the file held.
    pub scan: ScanSummary,
    /// Points of the prepared breech-face surface.
    pub surface_points: usize,
    /// When it was retracted, if it was.
    pub retracted_at_ms: Option<u64>,
    /// A bullet's land files, in land order (empty for cartridge cases; for a bullet,
    /// `blob` names the set, see `bullets::lands_name`, and `scan` is the first land's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lands: Vec<super::bullets::LandFile>,
    /// Who the digest is shared with (records from before sharing lists: the network).
    #[serde(default)]
    pub share: Share,
}

impl ExhibitRecord {
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt("ballistic_exhibits", e))
    }

    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|e| StoreError::corrupt("ballistic_exhibits", e))
    }

    /// The exhibit reference.
    pub fn exhibit_ref(&self) -> Option<ExhibitRef> {
        ExhibitRef::from_hex(&self.id)
    }

    /// The evidence kind.
    pub fn evidence_kind(&self) -> Option<EvidenceKind> {
        EvidenceKind::parse(&self.kind)
    }

    /// The cartridge-case digest (none for a bullet).
    pub fn parsed_digest(&self) -> Option<Digest> {
        if self.evidence_kind() != Some(EvidenceKind::CartridgeCase) {
            return None;
        }
        let bytes = hex::decode(&self.digest).ok()?;
        Digest::from_bytes(&bytes).ok()
    }

    /// The own-index entry for this exhibit (none once retracted).
    pub(super) fn index_op(&self) -> Option<IndexOp> {
        if self.retracted_at_ms.is_some() {
            return None;
        }
        Some(IndexOp::Insert(
            Held {
                origin: self.holder,
                exhibit_ref: self.exhibit_ref()?,
                kind: self.evidence_kind()?,
                caliber_class: self.caliber_class.clone(),
            },
            self.parsed_digest()?,
        ))
    }

    /// The API's view.
    pub fn to_json(&self, country: &str) -> Value {
        let mut v = json!({
            "id": self.id,
            "exhibit_ref": self.id,
            "country": country,
            "bureau_id": self.holder.to_string(),
            "kind": self.kind,
            "caliber": self.caliber,
            "caliber_class": self.caliber_class,
            "caliber_known": self.caliber_known,
            "case_ref": self.case_ref,
            "blob": self.blob,
            "blob_bytes": self.blob_bytes,
            "digest_bytes": self.digest.len() / 2,
            "created_at": rfc3339(self.created_at_ms),
            "scan": self.scan,
            "surface_points": self.surface_points,
            "status": if self.retracted_at_ms.is_some() { "retracted" } else { "active" },
        });
        if let Some(at) = self.retracted_at_ms {
            v["retracted_at"] = json!(rfc3339(at));
        }
        v["share"] = json!(self.share);
        if !self.lands.is_empty() {
            v["lands"] = json!(self.lands.len());
            v["land_files"] = json!(self.lands);
            v["surface_points"] = json!(null);
        }
        v
    }
}

/// A caliber as entered, its class and what the reference table said.
pub(super) struct CaliberClass {
    /// The class published.
    pub class: String,
    /// Whether the table knew it.
    pub known: bool,
    /// The table's suggestions when it did not (or found it ambiguous).
    pub suggestions: Vec<String>,
}

/// Classifies a caliber through the reference table; unknown or ambiguous ones ("9mm" is
/// 9x19, .380 ACP or 9x18) go to the unknown class, which is screened against all classes.
pub(super) fn caliber_class(raw: &str) -> CaliberClass {
    let n = ReferenceTable::builtin().normalise_caliber(raw);
    match n.id {
        Some(id) if n.known && id.chars().count() <= MAX_CALIBER_CLASS_CHARS => CaliberClass {
            class: id,
            known: true,
            suggestions: Vec::new(),
        },
        _ => CaliberClass {
            class: UNKNOWN_CLASS.to_string(),
            known: false,
            suggestions: n.suggestions,
        },
    }
}

/// Checks the `kind` parameter.
pub(super) fn parse_kind(kind: Option<&str>) -> Result<EvidenceKind, BallisticsError> {
    let Some(kind) = kind.map(str::trim).filter(|k| !k.is_empty()) else {
        return Err(BallisticsError::Field {
            field: "kind",
            message: "required: cartridge_case or bullet".into(),
        });
    };
    EvidenceKind::parse(kind).ok_or_else(|| BallisticsError::Field {
        field: "kind",
        message: format!("`{kind}` is not an evidence kind: use cartridge_case or bullet"),
    })
}

/// Checks the `share` parameter against the node's sharing lists.
pub(super) fn parse_share(
    node: &BallisticsNode,
    share: Option<&str>,
) -> Result<Share, BallisticsError> {
    let policy = &node.ballistics.sharing;
    match share.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(policy.default.clone()),
        Some(text) => policy
            .parse(text)
            .map_err(|message| BallisticsError::Field {
                field: "share",
                message,
            }),
    }
}

/// Checks the `caliber` parameter.
pub(super) fn parse_caliber(
    caliber: Option<&str>,
) -> Result<(String, CaliberClass), BallisticsError> {
    let raw = caliber.map(str::trim).unwrap_or_default();
    if raw.is_empty() || raw.chars().count() > 64 || raw.chars().any(char::is_control) {
        return Err(BallisticsError::Field {
            field: "caliber",
            message: "required, at most 64 characters (e.g. 9x19, 9mm Luger, .45 ACP)".into(),
        });
    }
    Ok((raw.to_string(), caliber_class(raw)))
}

/// Checks a case reference.
pub(super) fn parse_case_ref(
    case_ref: Option<&str>,
    required: bool,
) -> Result<String, BallisticsError> {
    let text = case_ref.map(str::trim).unwrap_or_default();
    if (required && text.is_empty())
        || text.chars().count() > MAX_CASE_REF_CHARS
        || text.chars().any(char::is_control)
    {
        return Err(BallisticsError::Field {
            field: "case_ref",
            message: format!(
                "{}at most {MAX_CASE_REF_CHARS} characters, no control characters",
                if required { "required, " } else { "" }
            ),
        });
    }
    Ok(text.to_string())
}

/// A scan read and prepared off the runtime.
pub(super) struct Prepared {
    /// What the file held.
    pub info: X3pInfo,
    /// The prepared surface.
    pub surface: striae_ballistics_lib::preprocess::Surface,
    /// Its digest.
    pub digest: Digest,
}

/// Reads, checks and prepares an X3P file (CPU work: call it from a blocking thread).
pub(super) fn prepare_scan(
    bytes: &[u8],
    prep: &striae_ballistics_lib::preprocess::PrepParams,
) -> Result<Prepared, BallisticsError> {
    if bytes.is_empty() {
        return Err(BallisticsError::Field {
            field: "body",
            message: "empty: send the raw bytes of an X3P file as the request body".into(),
        });
    }
    let scan = read_x3p(bytes).map_err(|e| BallisticsError::Field {
        field: "body",
        message: format!("not a usable X3P file: {e}"),
    })?;
    let info = scan.inspect();
    let surface = prepare(&scan, prep).map_err(|e| BallisticsError::Field {
        field: "body",
        message: format!("the scan cannot be used as a breech-face surface: {e}"),
    })?;
    if let Some(why) = surface_too_large(surface.nx, surface.ny, surface.pixel_um) {
        return Err(BallisticsError::Field {
            field: "body",
            message: why,
        });
    }
    let digest = digest(&surface);
    Ok(Prepared {
        info,
        surface,
        digest,
    })
}

/// Runs CPU-heavy work on a blocking thread, holding one of the node's CPU permits.
pub(super) async fn on_cpu<T: Send + 'static>(
    node: &BallisticsNode,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BallisticsError> {
    let permit = node
        .ballistics
        .cpu
        .clone()
        .acquire_owned()
        .await
        .map_err(BallisticsError::ShuttingDown)?;
    tokio::task::spawn_blocking(move || {
        let out = work();
        drop(permit);
        out
    })
    .await
    .map_err(|source| BallisticsError::Task {
        what: "scan processing",
        source,
    })
}

/// `POST /v1/x3p/inspect`: what a file holds; stores nothing.
pub async fn inspect(node: &BallisticsNode, bytes: Vec<u8>) -> Result<X3pInfo, BallisticsError> {
    if bytes.is_empty() {
        return Err(BallisticsError::Field {
            field: "body",
            message: "empty: send the raw bytes of an X3P file as the request body".into(),
        });
    }
    on_cpu(node, move || read_x3p(&bytes).map(|s| s.inspect()))
        .await?
        .map_err(|e| BallisticsError::Field {
            field: "body",
            message: format!("not a usable X3P file: {e}"),
        })
}

/// Adds an exhibit: checks the request, prepares the scan, stores the raw file, the record
/// and the prepared surface, publishes the digest and makes it all durable.
pub async fn add_exhibit(
    node: &BallisticsNode,
    request: AddRequest,
    bytes: Vec<u8>,
) -> Result<(ExhibitRecord, Vec<String>), BallisticsError> {
    let kind = parse_kind(request.kind.as_deref())?;
    if kind == EvidenceKind::Bullet {
        return super::bullets::add_bullet(
            node,
            request,
            super::lands::split_lands(None, bytes).await?,
        )
        .await;
    }
    let (caliber, class) = parse_caliber(request.caliber.as_deref())?;
    let case_ref = parse_case_ref(request.case_ref.as_deref(), true)?;
    let share = parse_share(node, request.share.as_deref())?;
    let blob_bytes = bytes.len() as u64;
    let (prepared, blob) = prepare_and_keep(node, bytes).await?;
    let exhibit_ref = striae_protocol::firearm::RecordRef(rand::random());
    let record = ExhibitRecord {
        id: exhibit_ref.to_hex(),
        holder: node.me,
        kind: kind.as_str().to_string(),
        caliber,
        caliber_class: class.class.clone(),
        caliber_known: class.known,
        case_ref,
        blob,
        blob_bytes,
        created_at_ms: now_ms(),
        digest: hex::encode(prepared.digest.to_bytes()),
        scan: ScanSummary::of(&prepared.info),
        surface_points: prepared.surface.valid_points(),
        retracted_at_ms: None,
        lands: Vec::new(),
        share,
    };
    let surface = encode_surface(&prepared)?;
    let digest = BallisticDigest {
        exhibit_ref,
        kind,
        caliber_class: class.class.clone(),
        digest: prepared.digest.to_bytes(),
    };
    store_and_publish(node, &record, surface, digest).await?;
    if let Some(op) = record.index_op() {
        node.ballistics.own.apply(op);
    }
    node.store.flush().await?;
    let warnings = add_warnings(&prepared.info, &class, &record.caliber);
    tracing::info!(exhibit = %record.id, "ballistic exhibit added");
    Ok((record, warnings))
}

/// Prepares a scan off the runtime, then keeps its raw file in the blob store; returns the
/// prepared scan and the blob's name.
async fn prepare_and_keep(
    node: &BallisticsNode,
    bytes: Vec<u8>,
) -> Result<(Prepared, String), BallisticsError> {
    let worker = node.clone();
    let (prepared, bytes) = on_cpu(node, move || {
        let prepared = prepare_scan(&bytes, worker.ballistics.prep_params())?;
        Ok::<_, BallisticsError>((prepared, bytes))
    })
    .await??;
    // Kept after the CPU permit is released: a remote blob store is I/O, not CPU work.
    let blobs = &node.ballistics.blobs;
    let blob = blobs.put(bytes).await.inspect_err(|e| {
        node.metrics.blob_error(blobs.backend(), e.label());
    })?;
    Ok((prepared, blob))
}

/// The prepared surface as kept for confirmation requests.
fn encode_surface(prepared: &Prepared) -> Result<Vec<u8>, BallisticsError> {
    codec::encode(&probe_from_surface(&prepared.surface), MAX_CONFIRM_BYTES).map_err(|e| {
        BallisticsError::Field {
            field: "body",
            message: format!("the prepared surface is too large to compare: {e}"),
        }
    })
}

/// Stores the exhibit's record and surface and shares its digest as the record says; when
/// the digest cannot be shared the stored parts are removed again, so the exhibit does not
/// exist half-way.
pub(super) async fn store_and_publish(
    node: &BallisticsNode,
    record: &ExhibitRecord,
    surface: Vec<u8>,
    digest: BallisticDigest,
) -> Result<(), BallisticsError> {
    let b = &node.ballistics;
    let id = record.id.as_bytes();
    b.surfaces.insert(id, surface)?;
    b.exhibits.insert(id, record.encode()?)?;
    b.by_blob.insert(record.blob.as_bytes(), id)?;
    if let Err(e) = sharing::share_digest(node, &record.share, digest).await {
        let _ = b.exhibits.remove(id);
        let _ = b.surfaces.remove(id);
        let _ = b.by_blob.remove(record.blob.as_bytes());
        return Err(e);
    }
    Ok(())
}

/// The file's warnings, and one for a caliber the reference table does not know.
fn add_warnings(info: &X3pInfo, class: &CaliberClass, caliber: &str) -> Vec<String> {
    let mut warnings = info.warnings.clone();
    warnings.extend(caliber_warning(class, caliber));
    warnings
}

/// The warning for a caliber the reference table does not know, if it does not.
pub(super) fn caliber_warning(class: &CaliberClass, caliber: &str) -> Option<String> {
    if class.known {
        return None;
    }
    let hint = if class.suggestions.is_empty() {
        String::new()
    } else {
        format!(" (did you mean: {}?)", class.suggestions.join(", "))
    };
    Some(format!(
        "caliber `{caliber}` is not a known cartridge{hint}: the exhibit is published under the unknown class and screened against every caliber"
    ))
}

/// Retracts an exhibit: its digest is withdrawn network-wide and confirmation requests for
/// it are answered "unknown exhibit". The file and record stay at this node.
pub async fn retract_exhibit(
    node: &BallisticsNode,
    id: &str,
) -> Result<ExhibitRecord, BallisticsError> {
    let b = &node.ballistics;
    let Some(mut record) = b.record(id)? else {
        return Err(BallisticsError::NotFound(format!(
            "no exhibit {id} at this node"
        )));
    };
    let Some(exhibit_ref) = record.exhibit_ref() else {
        return Err(BallisticsError::BadId(id.to_string()));
    };
    if record.retracted_at_ms.is_some() {
        return Ok(record);
    }
    sharing::withdraw(node, &record.share, exhibit_ref).await?;
    record.retracted_at_ms = Some(now_ms());
    b.exhibits.insert(id.as_bytes(), record.encode()?)?;
    b.own.apply(IndexOp::Remove(record.holder, exhibit_ref));
    b.drop_leads_of(id)?;
    node.store.flush().await?;
    Ok(record)
}
