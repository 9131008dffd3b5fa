//! Land-to-land alignment and striae features: bulletxtrctr's `sig_align` (cross-correlation
//! over lags with the 75% minimum-overlap rule, NaN-aware) and `sig_cms_max` (consecutive
//! matching striae from peaks and valleys).

use serde::Serialize;

use super::SIGNATURE_PITCH_UM;

/// Lags are kept only where the two signatures overlap by at least this fraction of the
/// shorter one (bulletxtrctr `sig_align`, `min.overlap`).
pub const MIN_OVERLAP: f64 = 0.75;
/// Rolling-mean window (samples at [`SIGNATURE_PITCH_UM`], applied twice) before peaks and
/// valleys are picked: bulletxtrctr `sig_cms_max(span = 35)` default, i.e. 54.7 µm.
pub const CMS_SMOOTH_SAMPLES: usize = 35;
/// Fewest points measured in both signatures at a lag for its correlation to count.
const MIN_COMMON: usize = 50;

/// Best alignment of two signatures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Alignment {
    /// Largest Pearson correlation over the allowed lags (pairwise-complete points).
    pub ccf: f64,
    /// Sample of `b` that lines up with sample 0 of `a`: `b[i + lag]` ↔ `a[i]`.
    pub lag: isize,
    /// Samples overlapping at that lag.
    pub overlap: usize,
}

/// Align `b` to `a`: the lag with the largest correlation among those where they overlap by
/// [`MIN_OVERLAP`] of the shorter. None if no lag has [`MIN_COMMON`] measured points in both.
pub fn align(a: &[f32], b: &[f32]) -> Option<Alignment> {
    align_with(a, b, MIN_OVERLAP)
}

pub(crate) fn align_with(a: &[f32], b: &[f32], min_overlap: f64) -> Option<Alignment> {
    let (na, nb) = (a.len() as isize, b.len() as isize);
    if na == 0 || nb == 0 {
        return None;
    }
    let need = ((min_overlap * na.min(nb) as f64).ceil() as isize).max(1);
    // Zero-filled values and 0/1 masks make the inner loop branch-free.
    let split = |v: &[f32]| -> (Vec<f64>, Vec<f64>) {
        v.iter()
            .map(|x| {
                if x.is_finite() {
                    (f64::from(*x), 1.0)
                } else {
                    (0.0, 0.0)
                }
            })
            .unzip()
    };
    let (av, am) = split(a);
    let (bv, bm) = split(b);
    let mut best: Option<Alignment> = None;
    for lag in -(na - 1)..nb {
        let lo = 0.max(-lag);
        let hi = na.min(nb - lag);
        let overlap = hi - lo;
        if overlap < need {
            continue;
        }
        let (lo, hi) = (lo as usize, hi as usize);
        let off = (lo as isize + lag) as usize;
        let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab) =
            (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (k, i) in (lo..hi).enumerate() {
            let (x, mx) = (av[i], am[i]);
            let (y, my) = (bv[off + k], bm[off + k]);
            n += mx * my;
            sa += x * my;
            sb += y * mx;
            saa += x * x * my;
            sbb += y * y * mx;
            sab += x * y;
        }
        if n < MIN_COMMON as f64 {
            continue;
        }
        let va = saa - sa * sa / n;
        let vb = sbb - sb * sb / n;
        if va <= 0.0 || vb <= 0.0 {
            continue;
        }
        let ccf = ((sab - sa * sb / n) / (va * vb).sqrt()).clamp(-1.0, 1.0);
        if best.is_none_or(|b| ccf > b.ccf) {
            best = Some(Alignment {
                ccf,
                lag,
                overlap: overlap as usize,
            });
        }
    }
    best
}

/// Striae features of two aligned signatures.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Striae {
    /// Consecutive matching striae: the longest run of matching peaks/valleys.
    pub cms: u32,
    /// Matching striae (groups of overlapping extrema of one type on both signatures).
    pub matches: u32,
    /// Groups that are not matches (on one signature only, or of mixed type).
    pub mismatches: u32,
    /// RMS difference of the two signatures over points measured in both (µm): bulletxtrctr's
    /// `D` (Euclidean distance over the number of common points, as an RMS).
    pub d_um: f64,
}

/// Peaks and valleys of two signatures on a common axis (`a[i]` ↔ `b[i]`), matched as in
/// bulletxtrctr `sig_get_peaks` + `striation_identify_matches`: each signature is smoothed
/// by a rolling mean of [`CMS_SMOOTH_SAMPLES`] twice; each extremum owns the interval out to
/// a third of the way to its neighbouring extrema; overlapping intervals (from both
/// signatures) form a group; a group is a match when it holds extrema of both signatures,
/// all of one type.
pub fn striae(a: &[f32], b: &[f32]) -> Striae {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (mut sum, mut count) = (0.0f64, 0usize);
    for (x, y) in a.iter().zip(b) {
        if x.is_finite() && y.is_finite() {
            sum += f64::from(x - y).powi(2);
            count += 1;
        }
    }
    let d_um = if count > 0 {
        (sum / count as f64).sqrt()
    } else {
        f64::NAN
    };
    // (start, end, type, signature)
    let mut intervals: Vec<(f64, f64, i8, u8)> = Vec::new();
    for (which, sig) in [(0u8, a), (1u8, b)] {
        for (lo, hi, kind) in extremum_intervals(sig) {
            intervals.push((lo, hi, kind, which));
        }
    }
    intervals.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut flags: Vec<bool> = Vec::new();
    let mut k = 0;
    while k < intervals.len() {
        let mut end = intervals[k].1;
        let mut j = k + 1;
        while j < intervals.len() && intervals[j].0 <= end {
            end = end.max(intervals[j].1);
            j += 1;
        }
        let group = &intervals[k..j];
        let both = group.iter().any(|g| g.3 == 0) && group.iter().any(|g| g.3 == 1);
        let one_type = group.iter().all(|g| g.2 == group[0].2);
        flags.push(both && one_type);
        k = j;
    }
    let matches = flags.iter().filter(|f| **f).count() as u32;
    let mut cms = 0u32;
    let mut run = 0u32;
    for f in &flags {
        run = if *f { run + 1 } else { 0 };
        cms = cms.max(run);
    }
    Striae {
        cms,
        matches,
        mismatches: flags.len() as u32 - matches,
        d_um,
    }
}

/// Intervals `(start, end, type)` of the peaks (type 1) and valleys (-1) of a signature.
fn extremum_intervals(sig: &[f32]) -> Vec<(f64, f64, i8)> {
    let v: Vec<f64> = sig.iter().map(|x| f64::from(*x)).collect();
    let s = rolling_mean(&rolling_mean(&v, CMS_SMOOTH_SAMPLES), CMS_SMOOTH_SAMPLES);
    let mut ext: Vec<(usize, i8)> = Vec::new();
    for i in 1..s.len().saturating_sub(1) {
        let (p, c, q) = (s[i - 1], s[i], s[i + 1]);
        if !(p.is_finite() && c.is_finite() && q.is_finite()) {
            continue;
        }
        if c >= p && c >= q && (c > p || c > q) {
            ext.push((i, 1));
        } else if c <= p && c <= q && (c < p || c < q) {
            ext.push((i, -1));
        }
    }
    let pos: Vec<f64> = ext.iter().map(|e| e.0 as f64).collect();
    (0..ext.len())
        .map(|k| {
            // The first and last extrema reuse their one neighbour distance (bulletxtrctr).
            let gap = |i: usize| pos.get(i + 1).map_or(0.0, |n| n - pos[i]);
            let before = if k > 0 { pos[k] - pos[k - 1] } else { gap(0) };
            let after = if k + 1 < pos.len() {
                gap(k)
            } else if k > 0 {
                pos[k] - pos[k - 1]
            } else {
                0.0
            };
            (pos[k] - before / 3.0, pos[k] + after / 3.0, ext[k].1)
        })
        .collect()
}

/// Centred rolling mean of `w` samples; NaN where the window is incomplete or holds a NaN
/// (R's `rollapply(mean)` with NA fill).
fn rolling_mean(v: &[f64], w: usize) -> Vec<f64> {
    let n = v.len();
    let mut out = vec![f64::NAN; n];
    if w == 0 || n < w {
        return out;
    }
    let h = (w - 1) / 2;
    let mut sum = 0.0;
    let mut bad = 0usize;
    for i in 0..n {
        if v[i].is_finite() {
            sum += v[i];
        } else {
            bad += 1;
        }
        if i >= w {
            let old = v[i - w];
            if old.is_finite() {
                sum -= old;
            } else {
                bad -= 1;
            }
        }
        if i + 1 >= w && bad == 0 {
            out[i + 1 - w + h] = sum / w as f64;
        }
    }
    out
}

/// The lag of an alignment in µm (`b` at `x + lag_um` lines up with `a` at `x`).
pub(crate) fn lag_um(al: &Alignment) -> f64 {
    al.lag as f64 * SIGNATURE_PITCH_UM
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::synthetic::SplitMix(seed);
        let raw: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let s = rolling_mean(&raw, 15);
        s.iter()
            .map(|v| if v.is_finite() { *v as f32 } else { 0.0 })
            .collect()
    }

    #[test]
    fn a_shifted_copy_is_found_at_its_lag() {
        let a = wave(800, 1);
        let b: Vec<f32> = std::iter::repeat_n(0.3, 37)
            .chain(a.iter().copied())
            .collect();
        let al = align(&a, &b).expect("aligned");
        assert_eq!(al.lag, 37);
        assert!(al.ccf > 0.999, "{al:?}");
        let s = striae(&a, &b[37..]);
        assert_eq!(s.mismatches, 0);
        assert_eq!(s.cms, s.matches);
        assert!(s.cms > 5, "{s:?}");
    }

    #[test]
    fn unrelated_signatures_correlate_little_and_share_few_striae() {
        let (a, b) = (wave(1200, 2), wave(1200, 3));
        let al = align(&a, &b).expect("aligned");
        assert!(al.ccf < 0.5, "{al:?}");
        assert!(al.overlap >= 900);
    }

    #[test]
    fn nan_is_skipped_and_too_little_overlap_gives_none() {
        let mut a = wave(400, 4);
        for v in a.iter_mut().take(100) {
            *v = f32::NAN;
        }
        assert!(align(&a, &a).is_some_and(|al| al.lag == 0));
        assert!(align(&[f32::NAN; 100], &a).is_none());
        assert!(align(&[], &a).is_none());
    }
}
