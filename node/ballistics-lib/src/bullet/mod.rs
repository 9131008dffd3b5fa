//! Bullet comparison: land engraved areas (LEAs) turned into 1-D striation signatures,
//! compared land to land and bullet to bullet, after the open CSAFE pipeline
//! (bulletxtrctr; Hare, Hofmann and Carriquiry 2017, "AOAS").
//!
//! Flow at a bureau:
//! 1. [`prepare_land`] each land scan ([`crate::x3p::X3pScan`]) into a [`Land`]: the axis
//!    along the striae found from the data, a stable band of crosscuts averaged, grooves
//!    found and removed, bullet curvature removed by loess, the signature smoothed and
//!    resampled to [`SIGNATURE_PITCH_UM`];
//! 2. [`prepare_bullet`] gathers 3..=12 lands in land order into a [`Bullet`];
//! 3. [`bullet_digest`] makes the fixed-size screening [`BulletDigest`]
//!    ([`BULLET_DIGEST_BYTES`] bytes) that is shared; [`bullet_screen_score`] compares two;
//! 4. the holder compares at full resolution with [`compare_bullets`] (cross-correlation,
//!    consecutive matching striae, best phase) and [`BulletComparison::confirmed`] applies
//!    the published rule ([`CONFIRM_MIN_MATCHED_LANDS`] lands with
//!    ccf ≥ [`LAND_MATCH_CCF`] or CMS ≥ [`LAND_MATCH_CMS`], all in one phase);
//! 5. [`crate::render_bullet::aligned_signatures_png`] draws the aligned land pairs.
//!
//! [`Land::to_bytes`] / [`Bullet::to_bytes`] are the wire forms a holder receives from
//! another member; their decoders treat the bytes as hostile. [`eval`] measures accuracy on
//! labelled scans named `STUDY-barrelB-bulletN-landL.x3p`.

mod align;
mod compare;
mod digest;
pub mod eval;
mod land;
pub mod synthetic;
#[cfg(test)]
mod tests;
mod wire;

pub use align::{Alignment, CMS_SMOOTH_SAMPLES, MIN_OVERLAP, Striae, align, striae};
pub use compare::{
    BulletComparison, CONFIRM_MIN_MATCHED_LANDS, LAND_MATCH_CCF, LAND_MATCH_CMS, LandPair,
    compare_bullets, compare_lands,
};
pub use digest::{
    BULLET_DIGEST_BYTES, BulletDigest, DIGEST_LAND_SAMPLES, DIGEST_MAX_LANDS, DIGEST_PITCH_UM,
    bullet_digest, bullet_screen_score,
};
pub use land::{
    CROSSCUT_HALF_BAND_UM, CROSSCUT_STEP_UM, GROOVE_ADJUST_UM, GROOVE_MIN_DEVIATION_UM,
    MAX_LAND_SAMPLES, MIN_LAND_WIDTH_UM, SIGNATURE_SMOOTH_UM, prepare_land,
};
pub use wire::WireError;

use serde::Serialize;

/// Spacing of every land signature (µm): 1.5625 µm, the resolution the published pipeline
/// assumes throughout (Hamby 252, NanoFocus 20x; bulletxtrctr). Scans at other resolutions
/// (e.g. Houston at 1.935 µm) are resampled to it, so window sizes written in samples in the
/// literature carry over one to one.
pub const SIGNATURE_PITCH_UM: f64 = 1.5625;
/// Fewest lands accepted on a bullet (conventional rifling has 4 to 8; polygonal up to 12).
pub const MIN_LANDS: usize = 3;
/// Most lands accepted on a bullet.
pub const MAX_LANDS: usize = 12;

/// Why a scan or a set of scans cannot be made into a land or a bullet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BulletError {
    /// The height array does not match the declared grid.
    #[error("the scan declares {size_x} x {size_y} points but holds {heights} heights")]
    Inconsistent {
        size_x: usize,
        size_y: usize,
        heights: usize,
    },
    /// Point spacing outside 0.01..100 µm (X3P stores metres).
    #[error("point spacing {increment_x} x {increment_y} m is not a land scan's (0.01 to 100 µm)")]
    Resolution { increment_x: f64, increment_y: f64 },
    /// Too small to hold a land.
    #[error("the scan is too small for a land: {reason}")]
    TooSmall { reason: String },
    /// Too wide: more than one land, or not a land.
    #[error("the land is {width_um:.0} µm wide, more than the {max_um:.0} µm a signature may hold")]
    TooWide { width_um: f64, max_um: f64 },
    /// Too few measured heights.
    #[error("only {valid} of {total} heights are measured")]
    Missing { valid: usize, total: usize },
    /// Heights are not finite numbers of a plausible size (more than 10 mm).
    #[error("heights are out of range (largest magnitude {0} m)")]
    Heights(f64),
    /// Wrong number of lands for a bullet.
    #[error("a bullet has {MIN_LANDS} to {MAX_LANDS} lands, got {0}")]
    LandCount(usize),
    /// One land of a bullet failed.
    #[error("land {index}: {source}")]
    Land {
        index: usize,
        #[source]
        source: Box<BulletError>,
    },
}

/// Groove-to-groove extent of a land across the scan and how it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grooves {
    /// Left end of the kept land (µm from the first sample across the scan).
    pub left_um: f32,
    /// Right end of the kept land (µm from the first sample across the scan).
    pub right_um: f32,
    /// A left groove shoulder was found; if not, the land starts at the first measured
    /// point plus [`GROOVE_ADJUST_UM`] (the scan may not reach the groove).
    pub left_found: bool,
    /// As `left_found`, on the right.
    pub right_found: bool,
}

/// A prepared land: its striation signature and how it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Land {
    /// Signature heights (µm) every [`SIGNATURE_PITCH_UM`] from the left groove to the right
    /// groove; `NaN` where the scan had no data.
    pub signature: Vec<f32>,
    /// Where the grooves are.
    pub grooves: Grooves,
    /// Centre of the averaged band of crosscuts along the striae (µm from the first sample).
    pub crosscut_um: f32,
    /// Striae run along the scan's x axis (the file's rows are along the bullet axis).
    pub striae_along_x: bool,
    /// Correlation of neighbouring crosscuts in the chosen band (how stable the crosscut is;
    /// bulletxtrctr calls a crosscut stable above 0.9).
    pub crosscut_stability: f32,
}

impl Land {
    /// Length of the signature (µm).
    pub fn width_um(&self) -> f64 {
        self.signature.len() as f64 * SIGNATURE_PITCH_UM
    }

    /// Findings an examiner should know about (grooves not found, unstable crosscut).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.grooves.left_found {
            out.push("no left groove shoulder found: the land starts at the scan's edge".into());
        }
        if !self.grooves.right_found {
            out.push("no right groove shoulder found: the land ends at the scan's edge".into());
        }
        if self.crosscut_stability < land::CROSSCUT_STABLE_CCF as f32 {
            out.push(format!(
                "crosscut not stable: neighbouring crosscuts correlate {:.2} (< {})",
                self.crosscut_stability,
                land::CROSSCUT_STABLE_CCF
            ));
        }
        out
    }
}

/// A bullet: its lands in land order (land k+1 next to land k around the bullet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bullet {
    pub lands: Vec<Land>,
}

/// Prepare every land scan of one bullet, given in land order ([`MIN_LANDS`]..=
/// [`MAX_LANDS`] scans).
pub fn prepare_bullet(scans: &[crate::x3p::X3pScan]) -> Result<Bullet, BulletError> {
    if !(MIN_LANDS..=MAX_LANDS).contains(&scans.len()) {
        return Err(BulletError::LandCount(scans.len()));
    }
    let lands = scans
        .iter()
        .enumerate()
        .map(|(index, scan)| {
            prepare_land(scan).map_err(|e| BulletError::Land {
                index,
                source: Box::new(e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Bullet { lands })
}
