//! Bullets on the wire: the signed confirmation exchange for fired bullets. The searcher sends
//! its bullet's land signatures (the ballistics library's encoding, opaque here) and names
//! bullets of the holder; the holder compares land to land at every phase and answers with
//! the best phase, the matched lands and the score of every land pair, signed. Bullet digests
//! travel in the same `BallisticDigest` as cartridge cases (kind `Bullet`).

use bincode::{Decode, Encode};

use crate::{ballistic::ExhibitRef, identity::BureauId, signed::SignedKind};

/// Largest encoded probe bullet (its lands' signatures) a request carries.
pub const MAX_BULLET_PROBE_BYTES: usize = 1 << 20;
/// Most lands a bullet has (rifling has 2 to 12 grooves in practice).
pub const MAX_LANDS: usize = 12;
/// Most samples of one land signature shown back to the searcher.
pub const MAX_TRACE_SAMPLES: usize = 8_192;
/// Most bullets one confirmation request names.
pub const MAX_BULLET_CONFIRM_EXHIBITS: usize = 64;
/// Largest encoded bullet confirmation request.
pub const MAX_BULLET_CONFIRM_BYTES: usize = MAX_BULLET_PROBE_BYTES + 64 * 1024;
/// Largest encoded bullet confirmation response.
pub const MAX_BULLET_RESPONSE_BYTES: usize = 4 << 20;

/// "Compare this bullet with these bullets of yours", signed by the searcher.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct BulletConfirmRequest {
    /// The search this belongs to (random, chosen by the searcher).
    pub search_id: [u8; 16],
    /// The searching member.
    pub requester: BureauId,
    /// When it was asked, ms since the epoch.
    pub issued_at_ms: u64,
    /// Case reference at the searcher, for the holder's audit log.
    pub case_ref: String,
    /// The probe bullet's land signatures, as the ballistics library encodes them (at most
    /// `MAX_BULLET_PROBE_BYTES`).
    pub probe: Vec<u8>,
    /// The holder's bullets to compare with.
    pub exhibits: Vec<ExhibitRef>,
    /// The requesting bureau's reference for the user who asked (`acting` module): empty when
    /// the node acted on its own. Last, so bytes signed before it existed still read.
    pub acting: String,
}

impl SignedKind for BulletConfirmRequest {
    const DOMAIN: &'static [u8] = b"striae-bullet-confirm-request-v1:";
    const MAX_BYTES: usize = MAX_BULLET_CONFIRM_BYTES;
    fn signer(&self) -> BureauId {
        self.requester
    }
    const ACTING_LAST: bool = true;
    fn acting(&self) -> &str {
        &self.acting
    }
}

/// One probe land against one held land.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct LandPairScore {
    /// Land of the probe (0-based, in land order).
    pub probe_land: u8,
    /// Land of the held bullet (0-based).
    pub held_land: u8,
    /// Cross-correlation of the aligned signatures (-1..1).
    pub ccf: f32,
    /// Longest run of consecutive matching striae.
    pub cms: u32,
    /// Shift of the held signature against the probe's at the best alignment, µm.
    pub lag_um: f32,
    /// Whether the pair counts as a matched land.
    pub matched: bool,
}

/// A held land's signature, sent back for a confirmed bullet so the searcher can show the
/// aligned signatures.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct LandTrace {
    /// Land of the held bullet (0-based).
    pub land: u8,
    /// Spacing of the samples, µm.
    pub step_um: f32,
    /// Heights, µm (NaN where the land had no data); at most `MAX_TRACE_SAMPLES`.
    pub z: Vec<f32>,
}

/// The holder's comparison of the probe bullet with one of its bullets.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub enum BulletComparison {
    /// Compared at every phase.
    Compared {
        /// The bullet score at the best phase (mean land score of that phase, 0..1).
        score: f32,
        /// The best phase p: probe land k goes with held land (k + p) mod lands.
        phase: u32,
        /// The land pairs of the best phase that match, (probe land, held land).
        matched_lands: Vec<(u8, u8)>,
        /// Every land pair compared.
        pairs: Vec<LandPairScore>,
        /// Whether the holder's identification rule is met.
        confirmed: bool,
        /// The held lands' signatures of the matched pairs (only when confirmed).
        traces: Vec<LandTrace>,
    },
    /// The holder has no such bullet (retracted, or never held).
    UnknownExhibit,
    /// The bullets could not be compared (the text says why).
    NotComparable(String),
}

/// A bullet comparison that breaks a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BulletComparisonError {
    /// More land pairs than `MAX_LANDS` squared, or a land number beyond `MAX_LANDS`.
    #[error("land numbers or pair count out of bounds")]
    Lands,
    /// A trace longer than `MAX_TRACE_SAMPLES`, or a spacing that is not positive.
    #[error("signature trace out of bounds")]
    Trace,
    /// A score that is not a finite number.
    #[error("score not a finite number")]
    Score,
}

impl BulletComparison {
    /// Checks the bounds of a received comparison.
    pub fn check(&self) -> Result<(), BulletComparisonError> {
        let BulletComparison::Compared {
            score,
            phase,
            matched_lands,
            pairs,
            traces,
            ..
        } = self
        else {
            return Ok(());
        };
        let land_ok = |l: u8| usize::from(l) < MAX_LANDS;
        if pairs.len() > MAX_LANDS * MAX_LANDS
            || matched_lands.len() > MAX_LANDS
            || traces.len() > MAX_LANDS
            || *phase as usize >= MAX_LANDS
            || !matched_lands.iter().all(|&(a, b)| land_ok(a) && land_ok(b))
            || !pairs
                .iter()
                .all(|p| land_ok(p.probe_land) && land_ok(p.held_land))
        {
            return Err(BulletComparisonError::Lands);
        }
        if traces.iter().any(|t| {
            !land_ok(t.land)
                || t.z.len() > MAX_TRACE_SAMPLES
                || !(t.step_um.is_finite() && t.step_um > 0.0)
        }) {
            return Err(BulletComparisonError::Trace);
        }
        let finite = score.is_finite()
            && pairs
                .iter()
                .all(|p| p.ccf.is_finite() && p.lag_um.is_finite());
        if !finite {
            return Err(BulletComparisonError::Score);
        }
        Ok(())
    }
}

/// The holder's signed answer to a `BulletConfirmRequest`.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct BulletConfirmResponse {
    /// The search answered.
    pub search_id: [u8; 16],
    /// The holder.
    pub responder: BureauId,
    /// The searcher.
    pub requester: BureauId,
    /// When it was answered.
    pub answered_at_ms: u64,
    /// One per bullet asked about, in the order asked.
    pub results: Vec<(ExhibitRef, BulletComparison)>,
}

impl SignedKind for BulletConfirmResponse {
    const DOMAIN: &'static [u8] = b"striae-bullet-confirm-response-v1:";
    const MAX_BYTES: usize = MAX_BULLET_RESPONSE_BYTES;
    fn signer(&self) -> BureauId {
        self.responder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compared() -> BulletComparison {
        BulletComparison::Compared {
            score: 0.8,
            phase: 2,
            matched_lands: vec![(0, 2), (1, 3)],
            pairs: vec![LandPairScore {
                probe_land: 0,
                held_land: 2,
                ccf: 0.9,
                cms: 14,
                lag_um: -12.5,
                matched: true,
            }],
            confirmed: true,
            traces: vec![LandTrace {
                land: 2,
                step_um: 1.5625,
                z: vec![0.1, f32::NAN, -0.2],
            }],
        }
    }

    #[test]
    fn a_well_formed_comparison_passes_and_bad_ones_name_the_bound() {
        assert_eq!(compared().check(), Ok(()));
        let mut c = compared();
        if let BulletComparison::Compared { phase, .. } = &mut c {
            *phase = 40;
        }
        assert_eq!(c.check(), Err(BulletComparisonError::Lands));
        let mut c = compared();
        if let BulletComparison::Compared { traces, .. } = &mut c {
            traces[0].z = vec![0.0; MAX_TRACE_SAMPLES + 1];
        }
        assert_eq!(c.check(), Err(BulletComparisonError::Trace));
        let mut c = compared();
        if let BulletComparison::Compared { score, .. } = &mut c {
            *score = f32::INFINITY;
        }
        assert_eq!(c.check(), Err(BulletComparisonError::Score));
        assert_eq!(BulletComparison::UnknownExhibit.check(), Ok(()));
    }
}
