//! Holder-side bullet comparison at full resolution: every probe land against every held
//! land, the best phase by SAM, and the published land and bullet decision rules.

use serde::Serialize;

use super::align::{align, lag_um, striae};
use super::{Bullet, Land, SIGNATURE_PITCH_UM};

/// A land pair with cross-correlation at least this counts as matched: on Hamby 252 only
/// known matches reached ccf ≥ 0.75 (AOAS, Hare, Hofmann and Carriquiry 2017, §4).
pub const LAND_MATCH_CCF: f64 = 0.75;
/// A land pair with at least this many consecutive matching striae counts as matched: all
/// 42 Hamby 252 pairs with CMS ≥ 13 were matches (AOAS).
pub const LAND_MATCH_CMS: u32 = 13;
/// A bullet pair is confirmed when at least this many land pairs of its best phase are
/// matched: requiring 2 matched lands gave zero bullet-level errors on Hamby 252 (AOAS).
pub const CONFIRM_MIN_MATCHED_LANDS: usize = 2;

/// One probe land against one held land.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LandPair {
    /// Probe land index (0-based, in land order).
    pub probe_land: usize,
    /// Held land index (0-based).
    pub held_land: usize,
    /// Largest cross-correlation over lags with ≥ 75% overlap (0 if none could be computed).
    pub ccf: f32,
    /// The held signature at `x + lag_um` lines up with the probe's at `x`.
    pub lag_um: f32,
    /// Length over which the two overlap at that lag (µm).
    pub overlap_um: f32,
    /// Consecutive matching striae at that lag.
    pub cms: u32,
    /// Matching striae.
    pub matches: u32,
    /// Non-matching striae.
    pub mismatches: u32,
    /// RMS difference over points measured in both (µm).
    pub d_um: f32,
    /// ccf ≥ [`LAND_MATCH_CCF`] or cms ≥ [`LAND_MATCH_CMS`].
    pub matched: bool,
    /// The pair belongs to the best phase.
    pub in_phase: bool,
}

/// A probe bullet against a held bullet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulletComparison {
    /// SAM: the mean ccf of the land pairs of the best phase (the maximum over phases of
    /// the mean land score; bulletxtrctr `compute_average_scores`, here on ccf as
    /// bulletAnalyzr's phase test does). 0 when the land counts differ.
    pub score: f32,
    /// Best phase `p`: probe land `k` lines up with held land `(k + p) mod n` (0-based;
    /// bulletxtrctr's phase is `p + 1` with its land order).
    pub phase: usize,
    /// Mean ccf of each phase, indexed by `p`.
    pub phase_scores: Vec<f32>,
    /// Best phase minus the phase ranked ⌊n/2⌋ from the lowest (bulletAnalyzr's phase-test
    /// statistic T without its pooled sd): how clearly one phase stands out.
    pub phase_margin: f32,
    /// `(probe land, held land)` pairs of the best phase that are matched.
    pub matched_lands: Vec<(usize, usize)>,
    /// Every probe land × held land, probe-major.
    pub pairs: Vec<LandPair>,
    /// At least [`CONFIRM_MIN_MATCHED_LANDS`] matched land pairs in the best phase (and the
    /// same number of lands on both bullets).
    pub confirmed: bool,
}

/// Compare two lands: alignment (ccf, lag) then striae at that lag. Indices are left 0.
pub fn compare_lands(probe: &Land, held: &Land) -> LandPair {
    let (a, b) = (&probe.signature, &held.signature);
    let mut pair = LandPair {
        probe_land: 0,
        held_land: 0,
        ccf: 0.0,
        lag_um: 0.0,
        overlap_um: 0.0,
        cms: 0,
        matches: 0,
        mismatches: 0,
        d_um: f32::NAN,
        matched: false,
        in_phase: false,
    };
    let Some(al) = align(a, b) else {
        return pair;
    };
    // The overlapping stretch on a common axis: a[i] <-> b[i + lag].
    let lo = 0.max(-al.lag) as usize;
    let off = (lo as isize + al.lag) as usize;
    let len = al.overlap;
    let s = striae(&a[lo..lo + len], &b[off..off + len]);
    pair.ccf = al.ccf as f32;
    pair.lag_um = lag_um(&al) as f32;
    pair.overlap_um = (len as f64 * SIGNATURE_PITCH_UM) as f32;
    pair.cms = s.cms;
    pair.matches = s.matches;
    pair.mismatches = s.mismatches;
    pair.d_um = s.d_um as f32;
    pair.matched = al.ccf >= LAND_MATCH_CCF || s.cms >= LAND_MATCH_CMS;
    pair
}

/// Compare a probe bullet with a held one (see [`BulletComparison`]).
pub fn compare_bullets(probe: &Bullet, held: &Bullet) -> BulletComparison {
    let mut pairs = Vec::with_capacity(probe.lands.len() * held.lands.len());
    for (i, p) in probe.lands.iter().enumerate() {
        for (j, h) in held.lands.iter().enumerate() {
            let mut pair = compare_lands(p, h);
            pair.probe_land = i;
            pair.held_land = j;
            pairs.push(pair);
        }
    }
    let n = probe.lands.len();
    if n == 0 || n != held.lands.len() {
        return BulletComparison {
            score: 0.0,
            phase: 0,
            phase_scores: Vec::new(),
            phase_margin: 0.0,
            matched_lands: Vec::new(),
            pairs,
            confirmed: false,
        };
    }
    let ccf = |k: usize, m: usize| f64::from(pairs[k * n + m].ccf);
    let phase_scores: Vec<f64> = (0..n)
        .map(|p| (0..n).map(|k| ccf(k, (k + p) % n)).sum::<f64>() / n as f64)
        .collect();
    let (phase, score) =
        phase_scores
            .iter()
            .copied()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (p, s)| {
                if s > best.1 { (p, s) } else { best }
            });
    let mut sorted = phase_scores.clone();
    sorted.sort_by(f64::total_cmp);
    let reference = sorted[(n / 2).saturating_sub(1)];
    let mut matched_lands = Vec::new();
    for k in 0..n {
        let pair = &mut pairs[k * n + (k + phase) % n];
        pair.in_phase = true;
        if pair.matched {
            matched_lands.push((pair.probe_land, pair.held_land));
        }
    }
    BulletComparison {
        score: score as f32,
        phase,
        phase_scores: phase_scores.iter().map(|s| *s as f32).collect(),
        phase_margin: (score - reference) as f32,
        confirmed: matched_lands.len() >= CONFIRM_MIN_MATCHED_LANDS,
        matched_lands,
        pairs,
    }
}
