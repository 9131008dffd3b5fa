//! Ballistic evidence on the wire: the digests members publish for their exhibits (compact,
//! rotation- and translation-invariant signatures that anyone can screen against), and the
//! signed confirmation exchange, in which a searcher sends its probe's prepared surface to a
//! holder and the holder answers with a signed comparison against its own scans.

use bincode::{Decode, Encode};

use crate::{firearm::RecordRef, identity::BureauId, signed::SignedKind};

/// An opaque, random reference to an exhibit at its holder (the same 16-byte form as a
/// record reference); the API shows it as the exhibit id.
pub type ExhibitRef = RecordRef;

/// Largest ballistic digest accepted.
pub const MAX_BALLISTIC_DIGEST_BYTES: usize = 8 * 1024;
/// Most digests one feed entry carries.
pub const MAX_BALLISTIC_DIGESTS_PER_ENTRY: usize = 64;
/// Longest caliber class.
pub const MAX_CALIBER_CLASS_CHARS: usize = 64;
/// Most points of a probe surface sent for confirmation (a primer at 12.5 µm is ~100k).
pub const MAX_PROBE_POINTS: usize = 1 << 20;
/// Most exhibits one confirmation request names.
pub const MAX_CONFIRM_EXHIBITS: usize = 64;
/// Largest encoded confirmation request or response.
pub const MAX_CONFIRM_BYTES: usize = 5 << 20;

/// What kind of fired component a scan shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum EvidenceKind {
    /// A fired cartridge case (breech-face impression).
    CartridgeCase,
    /// A fired bullet (land-engraved areas).
    Bullet,
}

impl EvidenceKind {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::CartridgeCase => "cartridge_case",
            EvidenceKind::Bullet => "bullet",
        }
    }

    /// From the API's name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "cartridge_case" => Some(EvidenceKind::CartridgeCase),
            "bullet" => Some(EvidenceKind::Bullet),
            _ => None,
        }
    }
}

/// One exhibit's digest as published.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BallisticDigest {
    /// The exhibit at its holder.
    pub exhibit_ref: ExhibitRef,
    /// Cartridge case or bullet.
    pub kind: EvidenceKind,
    /// Caliber class (the reference table's canonical caliber id, or "unknown").
    pub caliber_class: String,
    /// The screening digest (format owned by the ballistics library; at most
    /// `MAX_BALLISTIC_DIGEST_BYTES`).
    pub digest: Vec<u8>,
}

/// A published ballistic digest that breaks a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BallisticDigestError {
    /// The digest is empty or larger than `MAX_BALLISTIC_DIGEST_BYTES`.
    #[error("digest size out of bounds")]
    DigestSize,
    /// The caliber class is empty or longer than `MAX_CALIBER_CLASS_CHARS`.
    #[error("caliber class empty or too long")]
    CaliberClass,
}

impl BallisticDigest {
    /// Checks the bounds a published digest must keep.
    pub fn check(&self) -> Result<(), BallisticDigestError> {
        if self.digest.is_empty() || self.digest.len() > MAX_BALLISTIC_DIGEST_BYTES {
            return Err(BallisticDigestError::DigestSize);
        }
        if self.caliber_class.is_empty()
            || self.caliber_class.chars().count() > MAX_CALIBER_CLASS_CHARS
        {
            return Err(BallisticDigestError::CaliberClass);
        }
        Ok(())
    }
}

/// A prepared breech-face surface (heights standardised, NaN outside the region of interest),
/// as the searcher sends it to a holder for confirmation.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct ProbeSurface {
    /// Points per row.
    pub nx: u32,
    /// Rows.
    pub ny: u32,
    /// Grid spacing in micrometres.
    pub pixel_um: f64,
    /// Centre of the breech face, pixels.
    pub center_x: f64,
    /// Centre of the breech face, pixels.
    pub center_y: f64,
    /// Row-major heights, x fastest.
    pub z: Vec<f32>,
}

/// A probe surface whose shape or geometry is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeSurfaceError {
    /// The grid is empty, has more than `MAX_PROBE_POINTS` points, or `z` does not hold
    /// `nx * ny` heights.
    #[error("probe grid empty, too large, or not nx*ny points")]
    Grid,
    /// The grid spacing is not a positive finite number, or the centre is not finite.
    #[error("probe spacing or centre not a positive finite number")]
    Geometry,
    /// The centre lies more than two grid widths outside the grid. (The fitted centre of a
    /// partly scanned face may lie beyond its edge, but not that far.)
    #[error("probe centre far outside its grid")]
    CentreOutside,
}

impl ProbeSurface {
    /// Checks shape and bounds.
    pub fn check(&self) -> Result<(), ProbeSurfaceError> {
        let points = (self.nx as usize).saturating_mul(self.ny as usize);
        if points == 0 || points > MAX_PROBE_POINTS || self.z.len() != points {
            return Err(ProbeSurfaceError::Grid);
        }
        let finite = [self.pixel_um, self.center_x, self.center_y];
        if finite.iter().any(|v| !v.is_finite()) || self.pixel_um <= 0.0 {
            return Err(ProbeSurfaceError::Geometry);
        }
        let near = |c: f64, n: u32| (-2.0 * f64::from(n)..=3.0 * f64::from(n)).contains(&c);
        if !near(self.center_x, self.nx) || !near(self.center_y, self.ny) {
            return Err(ProbeSurfaceError::CentreOutside);
        }
        Ok(())
    }
}

/// "Compare this probe with these exhibits of yours", signed by the searcher.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct ConfirmRequest {
    /// The search this belongs to (random, chosen by the searcher).
    pub search_id: [u8; 16],
    /// The searching member.
    pub requester: BureauId,
    /// When it was asked, ms since the epoch.
    pub issued_at_ms: u64,
    /// Case reference at the searcher, for the holder's audit log.
    pub case_ref: String,
    /// The probe.
    pub probe: ProbeSurface,
    /// The holder's exhibits to compare with.
    pub exhibits: Vec<ExhibitRef>,
    /// The requesting bureau's reference for the user who asked (`acting` module): empty when
    /// the node acted on its own. Last, so bytes signed before it existed still read.
    pub acting: String,
}

impl SignedKind for ConfirmRequest {
    const DOMAIN: &'static [u8] = b"striae-confirm-request-v1:";
    const MAX_BYTES: usize = MAX_CONFIRM_BYTES;
    fn signer(&self) -> BureauId {
        self.requester
    }
    const ACTING_LAST: bool = true;
    fn acting(&self) -> &str {
        &self.acting
    }
}

/// The holder's comparison of the probe with one of its exhibits.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub enum Comparison {
    /// Compared: congruent matching cells found, of cells compared, and the score.
    Compared {
        /// Congruent matching cells.
        cmc_count: u32,
        /// Cells with enough data to compare.
        cells_compared: u32,
        /// `cmc_count / cells_compared`.
        score: f32,
        /// Whether the count meets the holder's identification threshold.
        confirmed: bool,
    },
    /// The holder has no such exhibit (retracted, or never held).
    UnknownExhibit,
    /// The exhibit or the probe could not be compared (the text says why).
    NotComparable(String),
}

/// The holder's signed answer to a `ConfirmRequest`.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct ConfirmResponse {
    /// The search answered.
    pub search_id: [u8; 16],
    /// The holder.
    pub responder: BureauId,
    /// The searcher.
    pub requester: BureauId,
    /// When it was answered.
    pub answered_at_ms: u64,
    /// One per exhibit asked about, in the order asked.
    pub results: Vec<(ExhibitRef, Comparison)>,
}

impl SignedKind for ConfirmResponse {
    const DOMAIN: &'static [u8] = b"striae-confirm-response-v1:";
    const MAX_BYTES: usize = 256 * 1024;
    fn signer(&self) -> BureauId {
        self.responder
    }
}

/// Largest comparison picture a holder sends (a PNG).
pub const MAX_PICTURE_BYTES: usize = 2 << 20;

/// "Show me why": the searcher asks a holder for the picture of its comparison of the probe
/// with one of its exhibits (both surfaces, the congruent cells outlined). The holder draws
/// it only when the comparison confirms the match, so it shows its surface for confirmed
/// matches only.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct PictureRequest {
    /// Random, chosen by the searcher (also in both audit logs).
    pub search_id: [u8; 16],
    /// The searching member.
    pub requester: BureauId,
    /// When it was asked, ms since the epoch.
    pub issued_at_ms: u64,
    /// Case reference at the searcher, for the holder's audit log.
    pub case_ref: String,
    /// The probe.
    pub probe: ProbeSurface,
    /// The holder's exhibit.
    pub exhibit: ExhibitRef,
    /// The requesting bureau's reference for the user who asked (`acting` module): empty when
    /// the node acted on its own. Last, so bytes signed before it existed still read.
    pub acting: String,
}

impl SignedKind for PictureRequest {
    const DOMAIN: &'static [u8] = b"striae-picture-request-v1:";
    const MAX_BYTES: usize = MAX_CONFIRM_BYTES;
    fn signer(&self) -> BureauId {
        self.requester
    }
    const ACTING_LAST: bool = true;
    fn acting(&self) -> &str {
        &self.acting
    }
}

/// What the holder answers to a `PictureRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum PictureOutcome {
    /// Confirmed: the picture (PNG, at most `MAX_PICTURE_BYTES`).
    Picture {
        /// Congruent matching cells.
        cmc_count: u32,
        /// Cells compared.
        cells_compared: u32,
        /// The PNG.
        png: Vec<u8>,
    },
    /// Compared but not confirmed: no picture.
    NotConfirmed {
        /// Congruent matching cells.
        cmc_count: u32,
        /// Cells compared.
        cells_compared: u32,
    },
    /// The holder has no such exhibit for this member.
    UnknownExhibit,
    /// Not comparable (the text says why).
    NotComparable(String),
}

/// The holder's signed answer to a `PictureRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PictureResponse {
    /// The request answered.
    pub search_id: [u8; 16],
    /// The holder.
    pub responder: BureauId,
    /// The searcher.
    pub requester: BureauId,
    /// When it was answered.
    pub answered_at_ms: u64,
    /// The exhibit.
    pub exhibit: ExhibitRef,
    /// The outcome.
    pub outcome: PictureOutcome,
}

impl SignedKind for PictureResponse {
    const DOMAIN: &'static [u8] = b"striae-picture-response-v1:";
    const MAX_BYTES: usize = MAX_PICTURE_BYTES + 4096;
    fn signer(&self) -> BureauId {
        self.responder
    }
}

/// Most digests and retractions one `SharedDigests` message carries.
pub const MAX_SHARED_ITEMS: usize = 64;

/// Digests shared with a few members only (a regional sharing list), sent point to point to
/// each of them instead of through the feed, which every member replicates. Addressed to one
/// recipient, so it cannot be passed on to another member as if meant for it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SharedDigests {
    /// The holder of the exhibits.
    pub sender: BureauId,
    /// The one member it is for.
    pub recipient: BureauId,
    /// When it was signed, ms since the epoch.
    pub issued_at_ms: u64,
    /// Exhibits shared (each checked like a published digest).
    pub digests: Vec<BallisticDigest>,
    /// Exhibits withdrawn.
    pub retracted: Vec<ExhibitRef>,
}

impl SharedDigests {
    /// Checks the bounds: at most `MAX_SHARED_ITEMS` items, each digest within its bounds.
    pub fn check(&self) -> Result<(), BallisticDigestError> {
        if self.digests.len() + self.retracted.len() > MAX_SHARED_ITEMS {
            return Err(BallisticDigestError::DigestSize);
        }
        self.digests.iter().try_for_each(BallisticDigest::check)
    }
}

impl SignedKind for SharedDigests {
    const DOMAIN: &'static [u8] = b"striae-shared-digests-v1:";
    const MAX_BYTES: usize = MAX_SHARED_ITEMS * (MAX_BALLISTIC_DIGEST_BYTES + 256);
    fn signer(&self) -> BureauId {
        self.sender
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_check_keeps_its_texts() {
        let mut probe = ProbeSurface {
            nx: 2,
            ny: 2,
            pixel_um: 12.5,
            center_x: 1.0,
            center_y: 1.0,
            z: vec![0.0; 4],
        };
        assert_eq!(probe.check(), Ok(()));
        probe.pixel_um = f64::NAN;
        let err = probe.check().unwrap_err();
        assert_eq!(err, ProbeSurfaceError::Geometry);
        assert_eq!(
            err.to_string(),
            "probe spacing or centre not a positive finite number"
        );
        probe.z.pop();
        assert_eq!(
            probe.check().unwrap_err().to_string(),
            "probe grid empty, too large, or not nx*ny points"
        );
    }

    #[test]
    fn a_probe_centred_off_its_grid_is_refused() {
        let mut probe = ProbeSurface {
            nx: 2,
            ny: 2,
            pixel_um: 12.5,
            center_x: 2.0,
            center_y: 0.0,
            z: vec![0.0; 4],
        };
        assert_eq!(probe.check(), Ok(()));
        probe.center_x = 1e300;
        assert_eq!(probe.check(), Err(ProbeSurfaceError::CentreOutside));
        probe.center_x = -1.5;
        assert_eq!(
            probe.check(),
            Ok(()),
            "a centre just beyond the edge is a partial scan"
        );
        probe.center_x = -4.5;
        assert_eq!(probe.check(), Err(ProbeSurfaceError::CentreOutside));
    }

    #[test]
    fn digest_check_keeps_its_texts() {
        let digest = BallisticDigest {
            exhibit_ref: RecordRef([1; 16]),
            kind: EvidenceKind::Bullet,
            caliber_class: "9x19".into(),
            digest: Vec::new(),
        };
        assert_eq!(
            digest.check().unwrap_err().to_string(),
            "digest size out of bounds"
        );
    }
}
