//! From one land scan to its striation signature: orientation, stable crosscut band,
//! grooves, curvature, smoothing and resampling (every length in µm, not samples).

use super::{BulletError, Grooves, Land, SIGNATURE_PITCH_UM};
use crate::x3p::X3pScan;

/// Narrowest land kept after groove removal (µm). The narrowest conventional lands (.22,
/// .25) are about 0.5 mm; LPR found specificity drops sharply with less than half a land,
/// so 300 µm is a floor for "there is a land here", not a quality claim.
pub const MIN_LAND_WIDTH_UM: f64 = 300.0;
/// Longest signature (samples at [`SIGNATURE_PITCH_UM`], 6.4 mm): twice the widest lands of
/// common calibres, and a bound on every wire form.
pub const MAX_LAND_SAMPLES: usize = 4096;
/// Spacing of the crosscuts tried along the striae (µm): 25 µm as in AOAS and
/// bulletxtrctr's `x3p_crosscut_optimize`.
pub const CROSSCUT_STEP_UM: f64 = 25.0;
/// Half the height of the band of crosscuts averaged into one profile (µm). AOAS saw
/// signatures stop matching only beyond 200 µm apart; 80 µm in all averages out noise while
/// a 2° slant of the striae moves them by under 3 µm across it.
pub const CROSSCUT_HALF_BAND_UM: f64 = 40.0;
/// Correlation above which neighbouring crosscuts count as stable: bulletxtrctr's `minccf`
/// 0.9 (AOAS used 0.95). Below it the land gets a warning, not a refusal.
pub(crate) const CROSSCUT_STABLE_CCF: f64 = 0.9;
/// Smallest departure (µm) from the land's arc that marks a groove shoulder; the real
/// threshold is the larger of this and 6 robust standard deviations of the land's own
/// residuals. Shoulders rise tens of µm (Hamby 44, Houston); striae are 1-5 µm deep.
pub const GROOVE_MIN_DEVIATION_UM: f64 = 5.0;
/// How far inside the groove boundary the land is cut (µm): bulletAnalyzr's `adjust = 30`
/// samples at 1.5625 µm (bulletxtrctr's default is 10 samples).
pub const GROOVE_ADJUST_UM: f64 = 46.875;
/// Loess span (fraction of the land) of the curvature fit: bulletxtrctr `span1 = 0.75`,
/// degree 2, tricube weights (AOAS §3.2).
const CURVATURE_SPAN: f64 = 0.75;
/// Width (µm) of the loess neighbourhood that smooths the signature: bulletxtrctr's
/// `span2 = 0.03` of a nominal 2 mm land (AOAS), fixed in µm so that lands of different
/// widths and instruments are smoothed alike.
pub const SIGNATURE_SMOOTH_UM: f64 = 60.0;
/// Fraction of the largest absolute curvature residuals dropped as outliers (bulletxtrctr's
/// "chop" of the top 0.25%).
const CHOP_FRACTION: f64 = 0.0025;
/// High-pass window (µm) for comparing neighbouring crosscuts (stability).
const HIGH_PASS_UM: f64 = 100.0;
/// Spacing (µm) of the second differences that find the striae axis.
const NEIGHBOUR_UM: f64 = 10.0;

/// Prepare one land scan (see the module docs). Errors for anything that is not a land:
/// inconsistent or tiny grids, implausible spacing or heights, mostly missing data.
pub fn prepare_land(scan: &X3pScan) -> Result<Land, BulletError> {
    let (sx, sy) = (scan.size_x, scan.size_y);
    if sx.checked_mul(sy) != Some(scan.z.len()) {
        return Err(BulletError::Inconsistent {
            size_x: sx,
            size_y: sy,
            heights: scan.z.len(),
        });
    }
    let ok_inc = |v: f64| v.is_finite() && (1e-8..=1e-4).contains(&v);
    if !ok_inc(scan.increment_x) || !ok_inc(scan.increment_y) {
        return Err(BulletError::Resolution {
            increment_x: scan.increment_x,
            increment_y: scan.increment_y,
        });
    }
    if sx < 8 || sy < 8 {
        return Err(BulletError::TooSmall {
            reason: format!("{sx} x {sy} points"),
        });
    }
    let mut valid = 0usize;
    let mut biggest = 0.0f64;
    for v in scan.z.iter().filter(|v| v.is_finite()) {
        valid += 1;
        biggest = biggest.max(v.abs());
    }
    if biggest > 1e-2 {
        return Err(BulletError::Heights(biggest));
    }
    if valid * 10 < scan.z.len() {
        return Err(BulletError::Missing {
            valid,
            total: scan.z.len(),
        });
    }
    let rows = Lines {
        scan,
        along_x: false,
    };
    let cols = Lines {
        scan,
        along_x: true,
    };
    // Striae run along the axis the heights vary least along: rows vary more than columns
    // when the striae run along y (the rows cross them).
    let striae_along_x = variation_along_lines(&rows) < variation_along_lines(&cols);
    let lines = if striae_along_x { cols } else { rows };
    let across_um = lines.len_across() as f64 * lines.pitch_across();
    if across_um > 4.0 * MAX_LAND_SAMPLES as f64 * SIGNATURE_PITCH_UM {
        return Err(BulletError::TooWide {
            width_um: across_um,
            max_um: MAX_LAND_SAMPLES as f64 * SIGNATURE_PITCH_UM,
        });
    }
    let (band_centre, stability) = stable_band(&lines);
    let profile = band_profile(&lines, band_centre);
    let profile = resample(&profile, lines.pitch_across(), SIGNATURE_PITCH_UM);
    let first = profile.iter().position(|v| v.is_finite());
    let last = profile.iter().rposition(|v| v.is_finite());
    let (Some(first), Some(last)) = (first, last) else {
        return Err(BulletError::Missing {
            valid: 0,
            total: profile.len(),
        });
    };
    let profile = &profile[first..=last];
    let min_samples = ((MIN_LAND_WIDTH_UM + 2.0 * GROOVE_ADJUST_UM) / SIGNATURE_PITCH_UM) as usize;
    if profile.len() < min_samples {
        return Err(BulletError::TooSmall {
            reason: format!(
                "{:.0} µm measured across the striae",
                profile.len() as f64 * SIGNATURE_PITCH_UM
            ),
        });
    }
    let (left, right, left_found, right_found) = find_grooves(profile);
    let land = &profile[left..right];
    if land.len() as f64 * SIGNATURE_PITCH_UM < MIN_LAND_WIDTH_UM {
        return Err(BulletError::TooSmall {
            reason: format!(
                "{:.0} µm between the grooves",
                land.len() as f64 * SIGNATURE_PITCH_UM
            ),
        });
    }
    if land.len() > MAX_LAND_SAMPLES {
        return Err(BulletError::TooWide {
            width_um: land.len() as f64 * SIGNATURE_PITCH_UM,
            max_um: MAX_LAND_SAMPLES as f64 * SIGNATURE_PITCH_UM,
        });
    }
    let measured = land.iter().filter(|v| v.is_finite()).count();
    if measured * 2 < land.len() {
        return Err(BulletError::Missing {
            valid: measured,
            total: land.len(),
        });
    }
    let signature = signature(land);
    let to_um = |i: usize| ((first + i) as f64 * SIGNATURE_PITCH_UM) as f32;
    Ok(Land {
        signature,
        grooves: Grooves {
            left_um: to_um(left),
            right_um: to_um(right),
            left_found,
            right_found,
        },
        crosscut_um: (band_centre as f64 * lines.pitch_along()) as f32,
        striae_along_x,
        crosscut_stability: stability as f32,
    })
}

/// The scan seen as cross-profiles ("lines") stacked along the striae.
struct Lines<'a> {
    scan: &'a X3pScan,
    /// Striae along x: a line is a column.
    along_x: bool,
}

impl Lines<'_> {
    fn len_along(&self) -> usize {
        if self.along_x {
            self.scan.size_x
        } else {
            self.scan.size_y
        }
    }

    fn len_across(&self) -> usize {
        if self.along_x {
            self.scan.size_y
        } else {
            self.scan.size_x
        }
    }

    fn pitch_along(&self) -> f64 {
        1e6 * if self.along_x {
            self.scan.increment_x
        } else {
            self.scan.increment_y
        }
    }

    fn pitch_across(&self) -> f64 {
        1e6 * if self.along_x {
            self.scan.increment_y
        } else {
            self.scan.increment_x
        }
    }

    /// Height (µm, NaN if missing) of line `i` at position `j` across.
    fn at(&self, i: usize, j: usize) -> f64 {
        let sx = self.scan.size_x;
        let v = if self.along_x {
            self.scan.z[j * sx + i]
        } else {
            self.scan.z[i * sx + j]
        };
        if v.is_finite() { v * 1e6 } else { f64::NAN }
    }

    fn line(&self, i: usize) -> Vec<f64> {
        (0..self.len_across()).map(|j| self.at(i, j)).collect()
    }
}

/// How much a scan varies along its lines: the median absolute second difference at
/// [`NEIGHBOUR_UM`] spacing (µm), over up to about 200,000 points. Second differences ignore
/// tilt and curvature; striae make them large across the striae and small along them.
fn variation_along_lines(lines: &Lines<'_>) -> f64 {
    let d = ((NEIGHBOUR_UM / lines.pitch_across()).round() as usize).max(1);
    let (n, m) = (lines.len_along(), lines.len_across());
    if m <= 2 * d {
        return f64::INFINITY;
    }
    let stride = ((n * m) / 200_000).max(1);
    let mut diffs = Vec::new();
    for i in (0..n).step_by(stride.min(n.max(1))) {
        for j in (d..m - d).step_by(1 + stride / n.max(1)) {
            let v = lines.at(i, j - d) - 2.0 * lines.at(i, j) + lines.at(i, j + d);
            if v.is_finite() {
                diffs.push(v.abs());
            }
        }
    }
    if diffs.is_empty() {
        return f64::INFINITY;
    }
    median(&diffs)
}

/// The centre (line index) of the band of crosscuts whose neighbours agree best, and that
/// agreement (mean correlation of crosscuts [`CROSSCUT_STEP_UM`] apart inside the band).
/// Lines with half their points or more missing are not candidates (bulletxtrctr starts
/// at the first line with less than 50% missing).
fn stable_band(lines: &Lines<'_>) -> (usize, f64) {
    let n = lines.len_along();
    let step = ((CROSSCUT_STEP_UM / lines.pitch_along()).round() as usize).max(1);
    let half = (CROSSCUT_HALF_BAND_UM / lines.pitch_along()).round() as usize;
    let window = window_samples(HIGH_PASS_UM, lines.pitch_across());
    let candidates: Vec<usize> = (0..n).step_by(step).collect();
    let profiles: Vec<Option<Vec<f64>>> = candidates
        .iter()
        .map(|&i| {
            let line = lines.line(i);
            let valid = line.iter().filter(|v| v.is_finite()).count();
            (valid * 2 > line.len()).then(|| high_pass(&line, window))
        })
        .collect();
    // c[k]: agreement of candidate k with candidate k + 1.
    let c: Vec<Option<f64>> = (0..candidates.len().saturating_sub(1))
        .map(|k| match (&profiles[k], &profiles[k + 1]) {
            (Some(a), Some(b)) => pearson(a, b),
            _ => None,
        })
        .collect();
    let mut best = (n / 2, f64::NEG_INFINITY);
    for (k, &centre) in candidates.iter().enumerate() {
        if profiles[k].is_none() {
            continue;
        }
        let inside: Vec<f64> = c
            .iter()
            .enumerate()
            .filter(|(m, _)| candidates[*m] + half >= centre && candidates[*m + 1] <= centre + half)
            .filter_map(|(_, v)| *v)
            .collect();
        if inside.is_empty() {
            continue;
        }
        let mean = inside.iter().sum::<f64>() / inside.len() as f64;
        if mean > best.1 {
            best = (centre, mean);
        }
    }
    if best.1 == f64::NEG_INFINITY {
        best.1 = 0.0;
    }
    best
}

/// NaN-aware mean of the lines within [`CROSSCUT_HALF_BAND_UM`] of `centre`; a position
/// with fewer than half the band's lines measured is missing.
fn band_profile(lines: &Lines<'_>, centre: usize) -> Vec<f64> {
    let half = (CROSSCUT_HALF_BAND_UM / lines.pitch_along()).round() as usize;
    let lo = centre.saturating_sub(half);
    let hi = (centre + half).min(lines.len_along() - 1);
    let band = hi - lo + 1;
    (0..lines.len_across())
        .map(|j| {
            let (sum, count) = (lo..=hi)
                .map(|i| lines.at(i, j))
                .filter(|v| v.is_finite())
                .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
            if count * 2 >= band && count > 0 {
                sum / count as f64
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Odd window length (samples) covering `um` at `pitch` µm, at least 3.
pub(crate) fn window_samples(um: f64, pitch: f64) -> usize {
    let w = (um / pitch).round().max(3.0) as usize;
    w | 1
}

/// NaN-aware centred moving average (a position's mean of the measured points within
/// `window`/2; NaN if none).
pub(crate) fn moving_average(v: &[f64], window: usize) -> Vec<f64> {
    let n = v.len();
    let mut sum = vec![0.0; n + 1];
    let mut cnt = vec![0usize; n + 1];
    for (i, x) in v.iter().enumerate() {
        let ok = x.is_finite();
        sum[i + 1] = sum[i] + if ok { *x } else { 0.0 };
        cnt[i + 1] = cnt[i] + usize::from(ok);
    }
    let h = window / 2;
    (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(h), (i + h + 1).min(n));
            let c = cnt[b] - cnt[a];
            if c == 0 {
                f64::NAN
            } else {
                (sum[b] - sum[a]) / c as f64
            }
        })
        .collect()
}

/// `v` minus its moving average (NaN stays NaN).
fn high_pass(v: &[f64], window: usize) -> Vec<f64> {
    let m = moving_average(v, window);
    v.iter().zip(&m).map(|(a, b)| a - b).collect()
}

/// Pearson correlation over the positions where both are measured (None if fewer than 10
/// or either is constant there).
pub(crate) fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        if x.is_finite() && y.is_finite() {
            n += 1.0;
            sa += x;
            sb += y;
            saa += x * x;
            sbb += y * y;
            sab += x * y;
        }
    }
    if n < 10.0 {
        return None;
    }
    let va = saa - sa * sa / n;
    let vb = sbb - sb * sb / n;
    let cov = sab - sa * sb / n;
    (va > 0.0 && vb > 0.0).then(|| (cov / (va * vb).sqrt()).clamp(-1.0, 1.0))
}

/// Resample a profile from `from` to `to` µm spacing: box-averaged first when coarsening
/// (no aliasing), then linear interpolation (the nearer neighbour where one is missing).
pub(crate) fn resample(v: &[f64], from: f64, to: f64) -> Vec<f64> {
    if v.is_empty() || (from - to).abs() < 1e-9 {
        return v.to_vec();
    }
    let ratio = to / from;
    let src = if ratio > 1.5 {
        moving_average(v, (ratio.round() as usize) | 1)
    } else {
        v.to_vec()
    };
    let m = ((v.len() - 1) as f64 / ratio).floor() as usize + 1;
    (0..m)
        .map(|k| {
            let s = k as f64 * ratio;
            let i = (s.floor() as usize).min(src.len() - 1);
            let f = s - i as f64;
            let a = src[i];
            let b = src.get(i + 1).copied().unwrap_or(f64::NAN);
            match (a.is_finite(), b.is_finite()) {
                (true, true) => a + (b - a) * f,
                (true, false) if f < 0.5 => a,
                (false, true) if f >= 0.5 => b,
                _ => f64::NAN,
            }
        })
        .collect()
}

/// Solve the 3 x 3 normal equations of a weighted quadratic fit; None if singular.
fn solve3(m: [[f64; 3]; 3], r: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&m);
    let scale = m[0][0].abs().max(1e-300).powi(3);
    if !d.is_finite() || d.abs() <= 1e-12 * scale {
        return None;
    }
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let mut mc = m;
        for row in 0..3 {
            mc[row][c] = r[row];
        }
        *o = det(&mc) / d;
    }
    Some(out)
}

/// Weighted least-squares quadratic in `u` (already scaled to about -1..1); returns the
/// coefficients (c0 + c1 u + c2 u²), falling back to a weighted mean if degenerate.
fn quad_fit(points: impl Iterator<Item = (f64, f64, f64)>) -> [f64; 3] {
    let (mut s, mut t) = ([0.0f64; 5], [0.0f64; 3]);
    for (u, y, w) in points {
        let mut p = w;
        for (k, sk) in s.iter_mut().enumerate() {
            *sk += p;
            if k < 3 {
                t[k] += p * y;
            }
            p *= u;
        }
    }
    let m = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]];
    solve3(m, t).unwrap_or([if s[0] > 0.0 { t[0] / s[0] } else { 0.0 }, 0.0, 0.0])
}

/// Local quadratic regression with tricube weights (R's `loess`, degree 2, exact rather
/// than kd-tree interpolated) of the measured points of `v`, using the `q` nearest measured
/// points at each position; evaluated at every position (NaN if fewer than 3 measured).
pub(crate) fn loess(v: &[f64], q: usize) -> Vec<f64> {
    let xs: Vec<f64> = (0..v.len())
        .filter(|&i| v[i].is_finite())
        .map(|i| i as f64)
        .collect();
    let ys: Vec<f64> = v.iter().copied().filter(|y| y.is_finite()).collect();
    let n = xs.len();
    if n < 3 {
        return vec![f64::NAN; v.len()];
    }
    let q = q.clamp(3, n);
    let mut lo = 0usize;
    (0..v.len())
        .map(|i| {
            let t = i as f64;
            while lo + q < n && t - xs[lo] > xs[lo + q] - t {
                lo += 1;
            }
            let dmax = (t - xs[lo]).max(xs[lo + q - 1] - t).max(1.0) * 1.000_001;
            let c = quad_fit((lo..lo + q).map(|k| {
                let u = (xs[k] - t) / dmax;
                let w = (1.0 - u.abs().powi(3)).max(0.0).powi(3);
                (u, ys[k], w)
            }));
            c[0]
        })
        .collect()
}

/// Robust (Tukey bisquare, 6 iterations) quadratic fit of the measured points of
/// `v[lo..hi]`, evaluated at every position of `v`.
fn robust_quadratic(v: &[f64], lo: usize, hi: usize) -> Vec<f64> {
    let half = (hi - lo).max(2) as f64 / 2.0;
    let mid = lo as f64 + half;
    let u = |i: usize| (i as f64 - mid) / half;
    let pts: Vec<(f64, f64)> = (lo..hi)
        .filter(|&i| v[i].is_finite())
        .map(|i| (u(i), v[i]))
        .collect();
    let mut w = vec![1.0; pts.len()];
    let mut c = [0.0; 3];
    for _ in 0..6 {
        c = quad_fit(pts.iter().zip(&w).map(|(&(x, y), &w)| (x, y, w)));
        let res: Vec<f64> = pts
            .iter()
            .map(|&(x, y)| (y - c[0] - c[1] * x - c[2] * x * x).abs())
            .collect();
        let s = 6.0 * median(&res).max(1e-6);
        for (wk, r) in w.iter_mut().zip(&res) {
            let z = r / s;
            *wk = if z < 1.0 { (1.0 - z * z).powi(2) } else { 0.0 };
        }
    }
    (0..v.len())
        .map(|i| c[0] + c[1] * u(i) + c[2] * u(i) * u(i))
        .collect()
}

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return 0.0;
    }
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// Groove boundaries `(left, right)` as a half-open sample range of `p`, and whether each
/// was found. The central half of the profile is taken as land: a robust quadratic through
/// it is the bullet's arc. Walking outward, the first sustained (≥ 10 µm) departure from
/// the arc by more than the threshold (see [`GROOVE_MIN_DEVIATION_UM`]) is the groove
/// shoulder; the land ends at the lowest (for a rising shoulder) point of the 100 µm before
/// it, moved [`GROOVE_ADJUST_UM`] inward. Without a shoulder the land runs to the measured
/// edge, moved inward the same way, and the side is reported as not found.
fn find_grooves(p: &[f64]) -> (usize, usize, bool, bool) {
    let n = p.len();
    let mut found = grooves_with_arc(p, n / 4, 3 * n / 4);
    // The arc through the central half may not reach the edges well: refit it on the land
    // found and look again, until the land stops changing (at most 4 times).
    for _ in 0..4 {
        let next = grooves_with_arc(p, found.0, found.1);
        if next == found {
            break;
        }
        found = next;
    }
    found
}

fn grooves_with_arc(p: &[f64], fit_lo: usize, fit_hi: usize) -> (usize, usize, bool, bool) {
    let n = p.len();
    let (q1, q3) = (n / 4, 3 * n / 4);
    let arc = robust_quadratic(p, fit_lo, fit_hi.max(fit_lo + 3).min(n));
    let resid: Vec<f64> = p.iter().zip(&arc).map(|(a, b)| a - b).collect();
    let smooth = moving_average(&resid, window_samples(20.0, SIGNATURE_PITCH_UM));
    let mid_abs: Vec<f64> = smooth[q1..q3].iter().map(|v| v.abs()).collect();
    let sigma = 1.4826 * median(&mid_abs);
    let threshold = GROOVE_MIN_DEVIATION_UM.max(6.0 * sigma);
    let run = (10.0 / SIGNATURE_PITCH_UM).ceil() as usize;
    let look_back = (100.0 / SIGNATURE_PITCH_UM).round() as usize;
    let adjust = (GROOVE_ADJUST_UM / SIGNATURE_PITCH_UM).round() as usize;
    // Walk from `start` by `next` until a sustained departure; return the boundary.
    let walk = |order: &mut dyn Iterator<Item = usize>| -> Option<usize> {
        let mut streak: Vec<usize> = Vec::new();
        for i in order {
            let v = smooth[i];
            if !v.is_finite() {
                continue;
            }
            if v.abs() > threshold
                && streak
                    .last()
                    .is_none_or(|&k| smooth[k].signum() == v.signum())
            {
                streak.push(i);
                if streak.len() >= run {
                    return Some(streak[0]);
                }
            } else {
                streak.clear();
            }
        }
        None
    };
    let sign_at = |i: usize| smooth[i].signum();
    // Lowest point (relative to the shoulder's direction) of the look-back window.
    let valley = |lo: usize, hi: usize, sign: f64| -> usize {
        (lo..=hi)
            .filter(|&i| smooth[i].is_finite())
            .min_by(|&a, &b| (smooth[a] * sign).total_cmp(&(smooth[b] * sign)))
            .unwrap_or(hi)
    };
    let right = walk(&mut (q3..n)).map(|j| {
        let b = valley(
            j.saturating_sub(look_back).max(q3 / 2 + n / 4),
            j,
            sign_at(j),
        );
        b.saturating_sub(adjust)
    });
    let left = walk(&mut (0..q1).rev()).map(|j| {
        let b = valley(j, (j + look_back).min(q1 + q1 / 2), sign_at(j));
        b + adjust
    });
    let (left_found, right_found) = (left.is_some(), right.is_some());
    let l = left.unwrap_or(adjust).min(n / 2);
    let r = right
        .unwrap_or(n.saturating_sub(adjust))
        .max(n / 2 + 1)
        .min(n);
    (l, r, left_found, right_found)
}

/// The signature of the land between the grooves: residuals from the loess arc, the most
/// extreme [`CHOP_FRACTION`] dropped, smoothed by loess over [`SIGNATURE_SMOOTH_UM`].
fn signature(land: &[f64]) -> Vec<f32> {
    let measured = land.iter().filter(|v| v.is_finite()).count();
    let arc = loess(land, (CURVATURE_SPAN * measured as f64).round() as usize);
    let mut resid: Vec<f64> = land.iter().zip(&arc).map(|(a, b)| a - b).collect();
    let mut mags: Vec<f64> = resid
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| v.abs())
        .collect();
    mags.sort_by(f64::total_cmp);
    let drop = (mags.len() as f64 * CHOP_FRACTION).ceil() as usize;
    if drop > 0 && drop < mags.len() {
        let cut = mags[mags.len() - drop];
        for v in resid.iter_mut().filter(|v| v.abs() >= cut) {
            *v = f64::NAN;
        }
    }
    let q = (SIGNATURE_SMOOTH_UM / SIGNATURE_PITCH_UM).round() as usize;
    let smooth = loess(&resid, q);
    land.iter()
        .zip(&smooth)
        .map(|(raw, s)| if raw.is_finite() { *s as f32 } else { f32::NAN })
        .collect()
}
