//! Confirmatory pairwise comparison by Congruent Matching Cells (Song 2013; cmcR, Zemmels
//! et al. 2022), run by the bureau that holds both scans.
//!
//! The reference surface is split into an 8 x 8 grid of cells over its bounding box; cells
//! with more than 85 % missing data are dropped (cmcR). Because cases can be rotated by any
//! angle between scans, candidate rotations come from the full circle: the polar ring
//! spectra of both surfaces (see [`crate::signature`]) are cross-correlated over the whole
//! 360° at 1.4° resolution, and the best few, well-separated peaks are refined at 3° steps
//! within ±6°, which is the cmcR angular grid. For each angle each cell is registered
//! against a target region three cells wide (nine times its area, cmcR
//! `getTargetRegions`) centred where the breech-face centres say it should be, by FFT
//! cross-correlation (`rustfft`); the peak is re-scored as the pairwise-complete Pearson
//! correlation, since the zero-filled FFT peak is biased by missing data (cmcR). Each cell
//! keeps its best (θ, dx, dy, CCF). Cells are congruent when CCF >= 0.6 and θ, dx, dy lie
//! within 6°, 125 µm, 125 µm of the consensus (CCF 0.60 as in NIST's Fadul validation,
//! Song et al. 2014; 6° and 20 px at 6.25 µm from cmcR `cmcFilter`). The CMC count is the
//! size of the largest congruent set (one direction: reference cells into the target).
//!
//! Note on the CCF threshold: cmcR's default is 0.5. With 0.5 this implementation let one
//! different-slide Fadul pair and one different-gun synthetic pair reach 6 CMCs; NIST's
//! 0.60 removed both. That choice was informed by those runs, so treat the Fadul
//! confirmation figures as development figures, not a held-out test.

use std::sync::Arc;

use rustfft::{Fft, FftPlanner, num_complex::Complex32};

use crate::preprocess::Surface;
use crate::signature::{ANGLES, ring_spectra};

/// Identification criterion on the CMC count: NIST's C >= 6 (Song 2013; validated on Fadul
/// with no false positives among 717 known non-matches). Chosen from the literature, not
/// tuned on the data in this repository.
pub const CONFIRM_THRESHOLD: usize = 6;

/// Comparison parameters; defaults are the cmcR / NIST values cited in the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct CmcParams {
    /// Cells per side of the reference grid (cmcR: 8 x 8).
    pub cells_per_side: usize,
    /// Drop cells with less than this fraction of valid points (cmcR: > 85 % missing).
    pub min_valid_fraction: f64,
    /// Minimum CCF for a cell to count (NIST, Song et al. 2014: 0.60; cmcR default 0.5).
    pub ccf_threshold: f32,
    /// Angular congruence tolerance (degrees; cmcR `theta_thresh` = 6).
    pub theta_tolerance_deg: f64,
    /// Translational congruence tolerance (µm; cmcR 20 px at 6.25 µm).
    pub shift_tolerance_um: f64,
    /// Rotation hypotheses taken from the full-circle polar correlation (the tests turn a
    /// real pair by 137° and recover it); each extra hypothesis costs ~40 ms per comparison.
    /// On the two weak Fadul pairs, 15 hypotheses found no more CMCs than 3.
    pub rotation_candidates: usize,
    /// Refinement half-width (degrees) around each hypothesis.
    pub refine_halfwidth_deg: f64,
    /// Refinement step (degrees; cmcR uses 3°).
    pub refine_step_deg: f64,
    /// Minimum fraction of a cell's valid points that must overlap valid target points at
    /// its peak, so a CCF is never computed on a sliver (cmcR computes it pairwise
    /// complete; half the cell keeps at least ~500 points at 8 x 8 cells).
    pub min_overlap_fraction: f64,
}

impl Default for CmcParams {
    fn default() -> Self {
        Self {
            cells_per_side: 8,
            min_valid_fraction: 0.15,
            ccf_threshold: 0.6,
            theta_tolerance_deg: 6.0,
            shift_tolerance_um: 125.0,
            rotation_candidates: 3,
            refine_halfwidth_deg: 6.0,
            refine_step_deg: 3.0,
            min_overlap_fraction: 0.5,
        }
    }
}

/// Outcome of one comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CmcResult {
    /// Number of congruent matching cells.
    pub cmc_count: usize,
    /// `cmc_count / cells_compared` (0 when nothing could be compared): the share of the
    /// usable reference area that registers congruently.
    pub score: f32,
    /// Consensus rotation of the target relative to the reference (degrees).
    pub theta_deg: f64,
    /// Consensus residual translation after centring (µm).
    pub dx: f64,
    pub dy: f64,
    /// Cells with enough data to be compared.
    pub cells_compared: usize,
    /// Mean CCF of the congruent cells (0 when none): a tie-breaker for ranking
    /// candidates with equal counts, never part of the decision.
    pub ccf_mean: f32,
    /// The congruent cells: where each lies on the reference and where it registered on
    /// the target (what a picture of the comparison outlines).
    pub cells: Vec<CellMatch>,
}

/// One congruent matching cell.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellMatch {
    /// Top-left corner on the reference, pixels.
    pub x0: usize,
    /// Top-left corner on the reference, pixels.
    pub y0: usize,
    /// Side of the cell, pixels.
    pub size: usize,
    /// The cell's corners where it registered on the target (target pixels), in the order
    /// top-left, top-right, bottom-right, bottom-left of the reference cell.
    pub target_corners: [(f64, f64); 4],
    /// Correlation of the cell at its registration.
    pub ccf: f32,
}

impl CmcResult {
    /// True when the count meets [`CONFIRM_THRESHOLD`].
    pub fn confirmed(&self) -> bool {
        self.cmc_count >= CONFIRM_THRESHOLD
    }
}

/// One reference cell, standardised, with its padded FFT precomputed.
struct Cell {
    /// Top-left corner in reference pixels.
    x0: usize,
    y0: usize,
    /// Standardised values, NaN = missing (size c x c).
    vals: Vec<f32>,
    /// conj(FFT) of the zero-filled cell, padded to n x n.
    spec: Vec<Complex32>,
}

/// Best registration of one cell.
#[derive(Debug, Clone, Copy)]
struct Reg {
    theta: f64,
    dx: f64,
    dy: f64,
    ccf: f32,
}

/// FFT helper for square n x n transforms.
struct Fft2 {
    n: usize,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
    scratch: Vec<Complex32>,
    tmp: Vec<Complex32>,
}

impl Fft2 {
    fn new(n: usize) -> Self {
        let mut p = FftPlanner::new();
        let fwd = p.plan_fft_forward(n);
        let inv = p.plan_fft_inverse(n);
        let s = fwd
            .get_inplace_scratch_len()
            .max(inv.get_inplace_scratch_len());
        Self {
            n,
            fwd,
            inv,
            scratch: vec![Complex32::new(0.0, 0.0); s],
            tmp: vec![Complex32::new(0.0, 0.0); n * n],
        }
    }

    /// Forward 2D FFT leaving the spectrum transposed (index kx * n + ky), which saves a
    /// transpose; all spectra here live in that layout and the k <-> -k pairing used below
    /// is symmetric under it.
    fn forward_t(&mut self, data: &mut [Complex32]) {
        self.fwd.process_with_scratch(data, &mut self.scratch);
        transpose(data, &mut self.tmp, self.n);
        self.fwd
            .process_with_scratch(&mut self.tmp, &mut self.scratch);
        data.copy_from_slice(&self.tmp);
    }

    /// Inverse of [`Fft2::forward_t`]: transposed spectrum in, image (y * n + x) out.
    fn inverse_t(&mut self, data: &mut [Complex32]) {
        self.inv.process_with_scratch(data, &mut self.scratch);
        transpose(data, &mut self.tmp, self.n);
        self.inv
            .process_with_scratch(&mut self.tmp, &mut self.scratch);
        data.copy_from_slice(&self.tmp);
    }
}

/// Square transpose in 8 x 8 tiles (cache-friendly enough at n <= 256).
fn transpose(src: &[Complex32], dst: &mut [Complex32], n: usize) {
    const T: usize = 8;
    for by in (0..n).step_by(T) {
        for bx in (0..n).step_by(T) {
            for y in by..(by + T).min(n) {
                for x in bx..(bx + T).min(n) {
                    dst[x * n + y] = src[y * n + x];
                }
            }
        }
    }
}

/// Everything about a reference surface that does not depend on the target: its cells
/// with their FFTs and its polar ring spectra. Build once per probe and reuse it for all
/// candidates ([`CmcReference::compare`]).
pub struct CmcReference {
    surface: Surface,
    params: CmcParams,
    c: usize,
    n: usize,
    cells: Vec<Cell>,
    rings: Vec<Complex32>,
}

impl CmcReference {
    /// Precompute the reference side of a comparison.
    pub fn new(reference: &Surface, params: &CmcParams) -> Self {
        let c = (reference.nx.max(reference.ny) / params.cells_per_side.max(1)).max(4);
        // The region is 3c wide and shifts only run over 0..=2c, so an n >= 3c transform
        // has no wrap-around; a 2-3-5-smooth n keeps rustfft on its fast radices.
        let n = next_smooth(3 * c);
        let usable = reference.is_consistent() && params.cells_per_side > 0;
        let (cells, rings) = if usable {
            let mut fft = Fft2::new(n);
            (
                make_cells(reference, c, n, params, &mut fft),
                ring_spectra(reference),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Self {
            surface: reference.clone(),
            params: params.clone(),
            c,
            n,
            cells,
            rings,
        }
    }

    /// Register `target` against this reference.
    pub fn compare(&self, target: &Surface) -> CmcResult {
        let (reference, params, c, n) = (&self.surface, &self.params, self.c, self.n);
        let empty = CmcResult {
            cmc_count: 0,
            score: 0.0,
            theta_deg: 0.0,
            dx: 0.0,
            dy: 0.0,
            cells_compared: 0,
            ccf_mean: 0.0,
            cells: Vec::new(),
        };
        if self.cells.is_empty()
            || !target.is_consistent()
            || (reference.pixel_um - target.pixel_um).abs() > 1e-6
        {
            return empty;
        }
        let angles = candidate_angles(&self.rings, &ring_spectra(target), params);
        let mut fft = Fft2::new(n);
        let mut best: Vec<Option<Reg>> = vec![None; self.cells.len()];
        let mut work = Workspace::new(n);
        let ctx = Ctx { c, n, params };
        let (aw, ah) = (reference.nx + 2 * c, reference.ny + 2 * c);
        work.aligned = vec![f32::NAN; aw * ah];
        work.aligned_w = aw;
        for &theta in &angles {
            // The target resampled once per angle into reference coordinates, with a margin
            // of one cell, so each cell's 3c region is a plain copy.
            let origin = -(c as f64);
            sample_region(
                target,
                reference.center,
                theta,
                origin,
                origin,
                (aw, ah),
                aw,
                &mut work.aligned,
            );
            // Two cells per complex FFT: region A in the real part, region B in the imaginary.
            for (pair, slots) in self.cells.chunks(2).zip(best.chunks_mut(2)) {
                let regs = register_pair(pair, &ctx, theta, &mut fft, &mut work);
                for (r, slot) in regs.into_iter().zip(slots.iter_mut()) {
                    if let Some(r) = r
                        && slot.is_none_or(|b| r.ccf > b.ccf)
                    {
                        *slot = Some(r);
                    }
                }
            }
        }
        let mut result = consensus(&best, self.cells.len(), reference.pixel_um, params);
        result.cells = self.congruent_cells(&best, &result, target);
        result
    }

    /// The cells whose registration agrees with the consensus (the ones counted), placed on
    /// the target: reference point q of a cell registered at angle θ with offset d lies at
    /// target point c_t + R(θ)(q + d - c_r).
    fn congruent_cells(
        &self,
        best: &[Option<Reg>],
        result: &CmcResult,
        target: &Surface,
    ) -> Vec<CellMatch> {
        let (p, px) = (&self.params, self.surface.pixel_um);
        let (mx, my) = (result.dx / px, result.dy / px);
        let tol_px = p.shift_tolerance_um / px;
        let c_r = self.surface.center;
        let c = self.c as f64;
        self.cells
            .iter()
            .zip(best)
            .filter_map(|(cell, reg)| {
                let r = (*reg)?;
                let agrees = r.ccf >= p.ccf_threshold
                    && angle_diff(r.theta, result.theta_deg).abs() <= p.theta_tolerance_deg
                    && (r.dx - mx).abs() <= tol_px
                    && (r.dy - my).abs() <= tol_px;
                if !agrees || result.cmc_count == 0 {
                    return None;
                }
                let (s, co) = r.theta.to_radians().sin_cos();
                let place = |u: f64, v: f64| {
                    let qx = cell.x0 as f64 + u + r.dx - c_r.0;
                    let qy = cell.y0 as f64 + v + r.dy - c_r.1;
                    (
                        target.center.0 + co * qx - s * qy,
                        target.center.1 + s * qx + co * qy,
                    )
                };
                Some(CellMatch {
                    x0: cell.x0,
                    y0: cell.y0,
                    size: self.c,
                    target_corners: [place(0.0, 0.0), place(c, 0.0), place(c, c), place(0.0, c)],
                    ccf: r.ccf,
                })
            })
            .collect()
    }
}

/// Compare `target` against `reference` (one direction, `reference` is cut into cells).
/// To confirm several candidates against one probe, build a [`CmcReference`] once.
pub fn compare(reference: &Surface, target: &Surface, params: &CmcParams) -> CmcResult {
    CmcReference::new(reference, params).compare(target)
}

/// Cells of the reference grid with enough valid data.
fn make_cells(s: &Surface, c: usize, n: usize, params: &CmcParams, fft: &mut Fft2) -> Vec<Cell> {
    let mut out = Vec::new();
    let k = params.cells_per_side;
    for gy in 0..k {
        for gx in 0..k {
            let (x0, y0) = (gx * s.nx / k, gy * s.ny / k);
            let mut vals: Vec<f32> = (0..c * c)
                .map(|i| s.get((x0 + i % c) as isize, (y0 + i / c) as isize))
                .collect();
            let valid = vals.iter().filter(|v| v.is_finite()).count();
            if (valid as f64) < params.min_valid_fraction * (c * c) as f64 || valid < 16 {
                continue;
            }
            standardise(&mut vals);
            let mut spec = vec![Complex32::new(0.0, 0.0); n * n];
            for (i, v) in vals.iter().enumerate() {
                if v.is_finite() {
                    spec[(i / c) * n + i % c] = Complex32::new(*v, 0.0);
                }
            }
            fft.forward_t(&mut spec);
            for z in &mut spec {
                *z = z.conj();
            }
            out.push(Cell { x0, y0, vals, spec });
        }
    }
    out
}

/// Zero mean, unit variance over the finite values.
fn standardise(v: &mut [f32]) {
    let (mut s, mut s2, mut m) = (0.0f64, 0.0f64, 0.0f64);
    for x in v.iter().filter(|x| x.is_finite()) {
        s += f64::from(*x);
        s2 += f64::from(*x) * f64::from(*x);
        m += 1.0;
    }
    if m < 1.0 {
        return;
    }
    let mean = s / m;
    let sd = (s2 / m - mean * mean).max(1e-12).sqrt();
    for x in v.iter_mut() {
        *x = ((f64::from(*x) - mean) / sd) as f32;
    }
}

/// Rotation hypotheses (degrees) from the full-circle polar cross-correlation, refined.
fn candidate_angles(fa: &[Complex32], fb: &[Complex32], p: &CmcParams) -> Vec<f64> {
    let corr = rotation_correlation(fa, fb);
    let step = 360.0 / ANGLES as f64;
    let mut peaks: Vec<f64> = Vec::new();
    let mut order: Vec<usize> = (0..corr.len()).collect();
    order.sort_by(|&i, &j| corr[j].total_cmp(&corr[i]));
    // Peaks at least 2 x (half-width + tolerance) apart, so refinements do not overlap.
    let min_sep = 2.0 * (p.refine_halfwidth_deg + p.theta_tolerance_deg);
    for i in order {
        let ang = i as f64 * step;
        if peaks.iter().all(|q| angle_diff(*q, ang).abs() >= min_sep) {
            peaks.push(ang);
        }
        if peaks.len() >= p.rotation_candidates.max(1) {
            break;
        }
    }
    // Clamped so that odd parameters cannot ask for more than a full circle at 0.1° steps.
    let half = p.refine_halfwidth_deg.clamp(0.0, 180.0);
    let steps = (half / p.refine_step_deg.max(0.1)).round() as i64;
    let mut out = Vec::new();
    for peak in peaks {
        for s in -steps..=steps {
            out.push(wrap180(peak + s as f64 * p.refine_step_deg));
        }
    }
    out
}

/// Circular cross-correlation over rotation angle of the ring spectra, summed over rings.
/// Index i corresponds to rotating by i * 360 / ANGLES degrees.
fn rotation_correlation(fa: &[Complex32], fb: &[Complex32]) -> Vec<f32> {
    let mut acc = vec![Complex32::new(0.0, 0.0); ANGLES];
    for (ra, rb) in fa.chunks_exact(ANGLES).zip(fb.chunks_exact(ANGLES)) {
        let ea: f32 = ra.iter().skip(1).map(|c| c.norm_sqr()).sum::<f32>().sqrt();
        let eb: f32 = rb.iter().skip(1).map(|c| c.norm_sqr()).sum::<f32>().sqrt();
        if ea < 1e-9 || eb < 1e-9 {
            continue;
        }
        for (k, o) in acc.iter_mut().enumerate().skip(1) {
            *o += ra[k].conj() * rb[k] / (ea * eb);
        }
    }
    FftPlanner::new().plan_fft_inverse(ANGLES).process(&mut acc);
    acc.iter().map(|c| c.re).collect()
}

fn wrap180(a: f64) -> f64 {
    (a + 180.0).rem_euclid(360.0) - 180.0
}

fn angle_diff(a: f64, b: f64) -> f64 {
    wrap180(a - b)
}

/// Smallest m >= n whose only prime factors are 2, 3 and 5.
fn next_smooth(n: usize) -> usize {
    (n.max(1)..)
        .find(|&m| {
            let mut k = m;
            for p in [2, 3, 5] {
                while k % p == 0 {
                    k /= p;
                }
            }
            k == 1
        })
        .unwrap_or(n)
}

/// Fixed inputs of one comparison.
struct Ctx<'a> {
    c: usize,
    n: usize,
    params: &'a CmcParams,
}

/// Buffers reused across registrations.
struct Workspace {
    regions: [Vec<f32>; 2],
    aligned: Vec<f32>,
    aligned_w: usize,
    spec: Vec<Complex32>,
    prod: Vec<Complex32>,
    sat: Vec<f64>,
}

impl Workspace {
    fn new(n: usize) -> Self {
        Self {
            regions: [vec![f32::NAN; n * n], vec![f32::NAN; n * n]],
            aligned: Vec::new(),
            aligned_w: 0,
            spec: vec![Complex32::new(0.0, 0.0); n * n],
            prod: vec![Complex32::new(0.0, 0.0); n * n],
            sat: vec![0.0; (n + 1) * (n + 1)],
        }
    }
}

/// Register one or two cells at rotation `theta` (degrees) with one forward and one
/// inverse complex FFT: for real a, b with Z = FFT(a + i b), FFT(a)_k = (Z_k + conj Z_-k)/2
/// and FFT(b)_k = (Z_k - conj Z_-k)/(2i); both correlations are real, so one inverse FFT of
/// P_a + i P_b returns them as its real and imaginary parts.
fn register_pair(
    cells: &[Cell],
    ctx: &Ctx<'_>,
    theta: f64,
    fft: &mut Fft2,
    w: &mut Workspace,
) -> Vec<Option<Reg>> {
    let (c, n) = (ctx.c, ctx.n);
    for (cell, region) in cells.iter().zip(w.regions.iter_mut()) {
        // Region = reference coordinates [x0 - c, x0 + 2c): aligned columns [x0, x0 + 3c).
        region.fill(f32::NAN);
        let aw = w.aligned_w;
        for y in 0..3 * c {
            let src = (cell.y0 + y) * aw + cell.x0;
            if let (Some(dst), Some(row)) = (
                region.get_mut(y * n..y * n + 3 * c),
                w.aligned.get(src..src + 3 * c),
            ) {
                dst.copy_from_slice(row);
            }
        }
    }
    let pair = cells.len() == 2;
    for (i, z) in w.spec.iter_mut().enumerate() {
        let a = w.regions[0][i];
        let b = if pair { w.regions[1][i] } else { f32::NAN };
        *z = Complex32::new(
            if a.is_finite() { a } else { 0.0 },
            if b.is_finite() { b } else { 0.0 },
        );
    }
    fft.forward_t(&mut w.spec);
    let zero = Complex32::new(0.0, 0.0);
    for ky in 0..n {
        for kx in 0..n {
            let k = ky * n + kx;
            let mk = ((n - ky) % n) * n + (n - kx) % n;
            let (z, zm) = (w.spec[k], w.spec[mk].conj());
            let fa = (z + zm) * 0.5;
            let pa = fa * cells[0].spec[k];
            let pb = match cells.get(1) {
                Some(cb) => {
                    let fb = (z - zm) * Complex32::new(0.0, -0.5);
                    fb * cb.spec[k]
                }
                None => zero,
            };
            w.prod[k] = pa + pb * Complex32::new(0.0, 1.0);
        }
    }
    fft.inverse_t(&mut w.prod);
    let mut out = Vec::with_capacity(cells.len());
    for (idx, cell) in cells.iter().enumerate() {
        build_sat(&w.regions[idx], n, &mut w.sat);
        let corr = |i: usize| if idx == 0 { w.prod[i].re } else { w.prod[i].im };
        out.push(best_shift(cell, ctx, theta, &w.regions[idx], &w.sat, corr));
    }
    out
}

/// Peak of the energy-normalised correlation over shifts, re-scored by Pearson.
fn best_shift(
    cell: &Cell,
    ctx: &Ctx<'_>,
    theta: f64,
    region: &[f32],
    sat: &[f64],
    corr: impl Fn(usize) -> f32,
) -> Option<Reg> {
    let (c, n) = (ctx.c, ctx.n);
    let max_shift = 2 * c;
    // Maximise num / sqrt(e) over positive num without a square root or division per
    // shift: num^2 * e_best > num_best^2 * e.
    let (mut best_num, mut best_e, mut bx, mut by) = (0.0f64, 1.0f64, 0, 0);
    let mut found = false;
    for sy in 0..=max_shift {
        for sx in 0..=max_shift {
            let num = f64::from(corr(sy * n + sx));
            if num <= 0.0 {
                continue;
            }
            let e = window_sum(sat, n, sx, sy, c);
            if e > 1e-9 && num * num * best_e > best_num * best_num * e {
                (best_num, best_e, bx, by, found) = (num, e, sx, sy, true);
            }
        }
    }
    if !found {
        return None;
    }
    let ccf = pearson_at(cell, c, region, n, bx, by, ctx.params.min_overlap_fraction)?;
    // Offset of the match from where the cell would sit with no residual translation.
    Some(Reg {
        theta,
        dx: bx as f64 - c as f64,
        dy: by as f64 - c as f64,
        ccf,
    })
}

/// Fill `out` (row stride `stride`) with the target resampled into reference coordinates
/// starting at (ox, oy), `size` = (width, height): reference point q maps to target point
/// c_t + R(theta) (q - c_r).
#[allow(clippy::too_many_arguments)]
fn sample_region(
    t: &Surface,
    c_r: (f64, f64),
    theta: f64,
    ox: f64,
    oy: f64,
    size: (usize, usize),
    stride: usize,
    out: &mut [f32],
) {
    let (s, co) = theta.to_radians().sin_cos();
    out.fill(f32::NAN);
    let side = size.0.min(stride);
    for y in 0..size.1 {
        let uy = oy + y as f64 - c_r.1;
        let ux0 = ox - c_r.0;
        // Walk along the row incrementally: each step adds (cos, sin).
        let mut tx = t.center.0 + co * ux0 - s * uy;
        let mut ty = t.center.1 + s * ux0 + co * uy;
        let Some(row) = out.get_mut(y * stride..y * stride + side) else {
            break;
        };
        for o in row.iter_mut() {
            *o = bilinear(t, tx, ty);
            tx += co;
            ty += s;
        }
    }
}

/// Bilinear sample, NaN outside the grid or next to missing data (fast path of
/// [`Surface::sample`]).
#[inline]
fn bilinear(t: &Surface, x: f64, y: f64) -> f32 {
    if !(x >= 0.0 && y >= 0.0) {
        return f32::NAN;
    }
    // `as` saturates for huge coordinates: compare without adding, so nothing can overflow.
    let (xi, yi) = (x as usize, y as usize);
    if xi >= t.nx.saturating_sub(1) || yi >= t.ny.saturating_sub(1) {
        return f32::NAN;
    }
    let (fx, fy) = ((x - xi as f64) as f32, (y - yi as f64) as f32);
    let i = yi * t.nx + xi;
    match (t.z.get(i..i + 2), t.z.get(i + t.nx..i + t.nx + 2)) {
        (Some(&[a, b]), Some(&[c, d])) => {
            (a * (1.0 - fx) + b * fx) * (1.0 - fy) + (c * (1.0 - fx) + d * fx) * fy
        }
        _ => f32::NAN,
    }
}

/// Summed-area table of squared finite values (n+1 x n+1).
fn build_sat(region: &[f32], n: usize, sat: &mut [f64]) {
    let m = n + 1;
    sat.fill(0.0);
    for y in 0..n {
        let mut row = 0.0;
        for x in 0..n {
            let v = region[y * n + x];
            if v.is_finite() {
                row += f64::from(v) * f64::from(v);
            }
            sat[(y + 1) * m + x + 1] = sat[y * m + x + 1] + row;
        }
    }
}

fn window_sum(sat: &[f64], n: usize, x: usize, y: usize, c: usize) -> f64 {
    let m = n + 1;
    sat[(y + c) * m + x + c] - sat[y * m + x + c] - sat[(y + c) * m + x] + sat[y * m + x]
}

/// Pairwise-complete Pearson correlation of the cell with the region at shift (sx, sy).
fn pearson_at(
    cell: &Cell,
    c: usize,
    region: &[f32],
    n: usize,
    sx: usize,
    sy: usize,
    min_overlap: f64,
) -> Option<f32> {
    let (mut m, mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
    let cell_valid = cell.vals.iter().filter(|v| v.is_finite()).count();
    for y in 0..c {
        for x in 0..c {
            let a = cell.vals[y * c + x];
            let b = region
                .get((y + sy) * n + x + sx)
                .copied()
                .unwrap_or(f32::NAN);
            if a.is_finite() && b.is_finite() {
                let (a, b) = (f64::from(a), f64::from(b));
                m += 1.0;
                sa += a;
                sb += b;
                saa += a * a;
                sbb += b * b;
                sab += a * b;
            }
        }
    }
    if m < (min_overlap * cell_valid as f64).max(16.0) {
        return None;
    }
    let cov = sab / m - sa / m * sb / m;
    let va = saa / m - (sa / m).powi(2);
    let vb = sbb / m - (sb / m).powi(2);
    (va > 1e-12 && vb > 1e-12).then(|| (cov / (va * vb).sqrt()) as f32)
}

/// Largest set of cells congruent in θ, dx, dy (Song 2013's consensus, one direction).
fn consensus(best: &[Option<Reg>], compared: usize, px_um: f64, p: &CmcParams) -> CmcResult {
    let tol_px = p.shift_tolerance_um / px_um;
    let good: Vec<Reg> = best
        .iter()
        .flatten()
        .copied()
        .filter(|r| r.ccf >= p.ccf_threshold)
        .collect();
    let mut result = CmcResult {
        cmc_count: 0,
        score: 0.0,
        theta_deg: 0.0,
        dx: 0.0,
        dy: 0.0,
        cells_compared: compared,
        ccf_mean: 0.0,
        cells: Vec::new(),
    };
    // Try every good cell's registration as the consensus seed; the seed's neighbourhood
    // median is the consensus, the count of cells within tolerance of it is the CMC.
    for seed in &good {
        let near: Vec<&Reg> = good
            .iter()
            .filter(|r| {
                angle_diff(r.theta, seed.theta).abs() <= p.theta_tolerance_deg
                    && (r.dx - seed.dx).abs() <= tol_px
                    && (r.dy - seed.dy).abs() <= tol_px
            })
            .collect();
        let med = |f: fn(&Reg) -> f64| {
            let mut v: Vec<f64> = near.iter().map(|r| f(r)).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        // Angles relative to the seed, so the median is right across the ±180° wrap.
        let mut rel: Vec<f64> = near
            .iter()
            .map(|r| angle_diff(r.theta, seed.theta))
            .collect();
        rel.sort_by(f64::total_cmp);
        let mt = wrap180(seed.theta + rel.get(rel.len() / 2).copied().unwrap_or(0.0));
        let (mx, my) = (med(|r| r.dx), med(|r| r.dy));
        let congruent: Vec<&Reg> = good
            .iter()
            .filter(|r| {
                angle_diff(r.theta, mt).abs() <= p.theta_tolerance_deg
                    && (r.dx - mx).abs() <= tol_px
                    && (r.dy - my).abs() <= tol_px
            })
            .collect();
        let count = congruent.len();
        let ccf_mean = congruent.iter().map(|r| r.ccf).sum::<f32>() / count.max(1) as f32;
        if count > result.cmc_count
            || (count == result.cmc_count && count > 0 && ccf_mean > result.ccf_mean)
        {
            result.cmc_count = count;
            result.ccf_mean = ccf_mean;
            result.theta_deg = mt;
            result.dx = mx * px_um;
            result.dy = my * px_um;
        }
    }
    result.score = if compared > 0 {
        result.cmc_count as f32 / compared as f32
    } else {
        0.0
    };
    result
}
