//! Breech-face preprocessing: turns a raw or already-processed X3P scan into a standard
//! [`Surface`] (fixed resolution, form removed, band-passed, region of interest isolated,
//! outliers trimmed, unit variance), following the cmcR pipeline (Zemmels et al. 2022:
//! crop exterior, filter interior, remove trend, Gaussian band-pass, downsample).

use thiserror::Error;

use crate::x3p::X3pScan;

/// Why a scan cannot be turned into a surface.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PrepError {
    #[error(
        "scan has {0} valid points; at least {MIN_VALID_POINTS} are needed after preprocessing"
    )]
    TooFewPoints(usize),
    #[error("scan increments {0} x {1} m are not a usable resolution")]
    BadResolution(f64, f64),
    #[error(
        "preprocessing parameters out of range (resolution 0.1..1000 µm, at most 4x the scan's points, finite filter cutoffs, positive trim)"
    )]
    BadParams,
    #[error("scan has {got} heights for a {size_x} x {size_y} grid")]
    BadShape {
        got: usize,
        size_x: usize,
        size_y: usize,
    },
}

/// Minimum valid points for a surface to be compared at all (about a 30 x 30 patch).
pub const MIN_VALID_POINTS: usize = 900;

/// Preprocessing parameters. Defaults follow cmcR / the CSAFE processing of Fadul and Weller.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepParams {
    /// Working resolution (µm). 12.5 µm halves the 6.25 µm CSAFE grid: the 16 µm low-pass
    /// cutoff leaves nothing finer anyway, and a 4x smaller grid makes CMC fast enough.
    pub resolution_um: f64,
    /// Gaussian low-pass cutoff wavelength (µm); cmcR uses 16 µm. Applied only when its
    /// sigma exceeds half a working pixel (coarser grids already average it out).
    pub lowpass_um: f64,
    /// Gaussian high-pass cutoff wavelength (µm); cmcR uses 500 µm to remove waviness.
    pub highpass_um: f64,
    /// Outlier trim: points beyond this many robust standard deviations (1.4826 MAD) are
    /// dropped. 5 keeps all of a Gaussian texture (p < 1e-6) but removes spikes and deep
    /// firing-pin or aperture remnants in raw scans.
    pub trim_sigma: f64,
    /// Pixels eroded from the region border: filters are unreliable near missing data and
    /// the rim of the aperture carries shear marks that are not breech-face marks.
    pub erode_px: usize,
    /// Polynomial order of the final form removal (1 = plane, 2 = quadratic). A robust
    /// plane (like cmcR's median-regression plane) is always removed first and gross
    /// outliers trimmed, because a quadratic fitted to raw data can mimic a
    /// crater-plus-rim bowl and hide both from the trim; the quadratic then takes out the
    /// primer dome on the clean points.
    pub form_order: u8,
}

impl Default for PrepParams {
    fn default() -> Self {
        Self {
            resolution_um: 12.5,
            lowpass_um: 16.0,
            highpass_um: 500.0,
            trim_sigma: 5.0,
            erode_px: 1,
            form_order: 2,
        }
    }
}

/// A standardised breech-face surface: heights with zero mean and unit variance over the
/// valid points, `NaN` elsewhere, on a square grid of `pixel_um`.
#[derive(Debug, Clone, PartialEq)]
pub struct Surface {
    pub nx: usize,
    pub ny: usize,
    /// Grid spacing (µm).
    pub pixel_um: f64,
    /// Row-major heights, x fastest; `NaN` = outside the region of interest.
    pub z: Vec<f32>,
    /// Centre of the breech face (centre of the fitted primer outline, else centroid of
    /// valid points), in pixel coordinates (x, y).
    pub center: (f64, f64),
}

impl Surface {
    /// Height at (x, y), `NaN` outside the grid.
    pub fn get(&self, x: isize, y: isize) -> f32 {
        if x < 0 || y < 0 || x as usize >= self.nx || y as usize >= self.ny {
            return f32::NAN;
        }
        self.z
            .get(y as usize * self.nx + x as usize)
            .copied()
            .unwrap_or(f32::NAN)
    }

    /// True when the grid shape, data length and resolution agree (always so for surfaces
    /// made by [`prepare`]); digest and comparison treat other surfaces as empty.
    pub fn is_consistent(&self) -> bool {
        self.nx > 0
            && self.ny > 0
            && self.z.len() == self.nx.saturating_mul(self.ny)
            && self.pixel_um.is_finite()
            && self.pixel_um > 0.0
            && self.center.0.is_finite()
            && self.center.1.is_finite()
    }

    /// This surface as an X3P scan (heights in standard-deviation units written as metres
    /// x 1e-6, i.e. "µm"), for export and for re-processing tests.
    pub fn to_scan(&self) -> X3pScan {
        let z = self
            .z
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    f64::from(v) * 1e-6
                } else {
                    f64::NAN
                }
            })
            .collect();
        X3pScan::new(
            self.nx,
            self.ny,
            self.pixel_um * 1e-6,
            self.pixel_um * 1e-6,
            z,
        )
    }

    /// Number of valid points.
    pub fn valid_points(&self) -> usize {
        self.z.iter().filter(|v| v.is_finite()).count()
    }

    /// Bilinear sample at fractional (x, y); `NaN` if any neighbour is missing.
    pub fn sample(&self, x: f64, y: f64) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
        let (xi, yi) = (x0 as isize, y0 as isize);
        let a = self.get(xi, yi);
        let b = self.get(xi + 1, yi);
        let c = self.get(xi, yi + 1);
        let d = self.get(xi + 1, yi + 1);
        (a * (1.0 - fx) + b * fx) * (1.0 - fy) + (c * (1.0 - fx) + d * fx) * fy
    }

    /// This surface rotated by `deg` degrees (counter-clockwise in x-right/y-down pixel
    /// terms) about its centre, on a grid of the same size. Used by tests and CMC.
    pub fn rotated(&self, deg: f64) -> Surface {
        let (s, c) = deg.to_radians().sin_cos();
        let (cx, cy) = ((self.nx as f64 - 1.0) / 2.0, (self.ny as f64 - 1.0) / 2.0);
        let mut z = vec![f32::NAN; self.z.len()];
        for y in 0..self.ny {
            for x in 0..self.nx {
                let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                // Inverse mapping: output pixel looks up the source rotated by -deg.
                let (sx, sy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
                if let Some(v) = z.get_mut(y * self.nx + x) {
                    *v = self.sample(sx, sy);
                }
            }
        }
        let (ox, oy) = (self.center.0 - cx, self.center.1 - cy);
        let center = (c * ox - s * oy + cx, s * ox + c * oy + cy);
        Surface {
            nx: self.nx,
            ny: self.ny,
            pixel_um: self.pixel_um,
            z,
            center,
        }
    }
}

/// Run the full pipeline.
pub fn prepare(scan: &X3pScan, params: &PrepParams) -> Result<Surface, PrepError> {
    if scan.z.len() != scan.size_x.saturating_mul(scan.size_y) {
        return Err(PrepError::BadShape {
            got: scan.z.len(),
            size_x: scan.size_x,
            size_y: scan.size_y,
        });
    }
    let (ix, iy) = (scan.increment_x * 1e6, scan.increment_y * 1e6);
    if !(ix > 0.01 && iy > 0.01 && ix < 1000.0 && iy < 1000.0) {
        return Err(PrepError::BadResolution(scan.increment_x, scan.increment_y));
    }
    // Working grid must be sane and not blow up memory (at most 4x the input's points).
    let out_points = (scan.size_x as f64 * ix / params.resolution_um)
        * (scan.size_y as f64 * iy / params.resolution_um);
    if !(params.resolution_um >= 0.1 && params.resolution_um <= 1000.0)
        || out_points > 4.0 * scan.z.len() as f64 + 1e6
        || !(params.highpass_um.is_finite()
            && params.lowpass_um.is_finite()
            && params.trim_sigma > 0.0)
    {
        return Err(PrepError::BadParams);
    }
    // Heights in µm so that numbers are O(1).
    let z_um: Vec<f64> = scan
        .z
        .iter()
        .map(|v| if v.is_finite() { v * 1e6 } else { f64::NAN })
        .collect();
    let mut g = resample(
        &z_um,
        scan.size_x,
        scan.size_y,
        ix,
        iy,
        params.resolution_um,
    );
    g.crop_to_valid();
    g.check()?;
    // Robust plane first, so gross outliers (crater, rim) are trimmed before any fit that
    // could bend around them; then the requested polynomial on the clean points.
    g.remove_form_robust(1);
    g.trim(params.trim_sigma);
    if params.form_order >= 2 {
        let valid: Vec<bool> = g.z.iter().map(|v| v.is_finite()).collect();
        g.remove_form(params.form_order, &valid);
    }
    let px = params.resolution_um;
    // ISO 16610-61 Gaussian: sigma = cutoff * sqrt(ln 2 / (2 pi^2)) ~= 0.1874 cutoff.
    let sigma_of = |cut: f64| 0.187_390_5 * cut / px;
    let low = gaussian_nan(&g, sigma_of(params.highpass_um));
    for (v, l) in g.z.iter_mut().zip(&low) {
        *v -= l;
    }
    if sigma_of(params.lowpass_um) > 0.5 {
        g.z = gaussian_nan(&g, sigma_of(params.lowpass_um));
    }
    g.erode(params.erode_px);
    g.trim(params.trim_sigma);
    g.crop_to_valid();
    g.check()?;
    g.standardise();
    let center = g.center();
    Ok(Surface {
        nx: g.nx,
        ny: g.ny,
        pixel_um: px,
        z: g.z.iter().map(|&v| v as f32).collect(),
        center,
    })
}

/// Working grid in f64.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    pub nx: usize,
    pub ny: usize,
    pub z: Vec<f64>,
}

/// Resample to `res` µm: area averaging (mean of valid source points falling in each output
/// cell, at least a quarter of the cell valid) when coarsening, bilinear when refining.
pub(crate) fn resample(z: &[f64], nx: usize, ny: usize, ix: f64, iy: f64, res: f64) -> Grid {
    let onx = ((nx as f64 * ix / res).round() as usize).max(1);
    let ony = ((ny as f64 * iy / res).round() as usize).max(1);
    if (ix - res).abs() < 1e-9 && (iy - res).abs() < 1e-9 {
        return Grid {
            nx,
            ny,
            z: z.to_vec(),
        };
    }
    let mut sum = vec![0.0; onx * ony];
    let mut cnt = vec![0.0f64; onx * ony];
    if ix <= res && iy <= res {
        for y in 0..ny {
            let oy = ((y as f64 + 0.5) * iy / res) as usize;
            for x in 0..nx {
                let ox = ((x as f64 + 0.5) * ix / res) as usize;
                let v = z.get(y * nx + x).copied().unwrap_or(f64::NAN);
                if v.is_finite() && ox < onx && oy < ony {
                    sum[oy * onx + ox] += v;
                    cnt[oy * onx + ox] += 1.0;
                }
            }
        }
        let per_cell = (res / ix) * (res / iy);
        let out = sum
            .iter()
            .zip(&cnt)
            .map(|(s, &c)| {
                if c >= 0.25 * per_cell {
                    s / c
                } else {
                    f64::NAN
                }
            })
            .collect();
        return Grid {
            nx: onx,
            ny: ony,
            z: out,
        };
    }
    let src = Grid {
        nx,
        ny,
        z: z.to_vec(),
    };
    let mut out = vec![f64::NAN; onx * ony];
    for oy in 0..ony {
        for ox in 0..onx {
            let (sx, sy) = (
                (ox as f64 + 0.5) * res / ix - 0.5,
                (oy as f64 + 0.5) * res / iy - 0.5,
            );
            out[oy * onx + ox] = src.bilinear(sx, sy);
        }
    }
    Grid {
        nx: onx,
        ny: ony,
        z: out,
    }
}

impl Grid {
    fn at(&self, x: isize, y: isize) -> f64 {
        if x < 0 || y < 0 || x as usize >= self.nx || y as usize >= self.ny {
            return f64::NAN;
        }
        self.z
            .get(y as usize * self.nx + x as usize)
            .copied()
            .unwrap_or(f64::NAN)
    }

    fn bilinear(&self, x: f64, y: f64) -> f64 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (xi, yi) = (x0 as isize, y0 as isize);
        let top = self.at(xi, yi) * (1.0 - fx) + self.at(xi + 1, yi) * fx;
        let bot = self.at(xi, yi + 1) * (1.0 - fx) + self.at(xi + 1, yi + 1) * fx;
        top * (1.0 - fy) + bot * fy
    }

    fn valid(&self) -> usize {
        self.z.iter().filter(|v| v.is_finite()).count()
    }

    fn check(&self) -> Result<(), PrepError> {
        let n = self.valid();
        if n < MIN_VALID_POINTS {
            Err(PrepError::TooFewPoints(n))
        } else {
            Ok(())
        }
    }

    /// Crop to the bounding box of valid points.
    fn crop_to_valid(&mut self) {
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..self.ny {
            for x in 0..self.nx {
                if self.z[y * self.nx + x].is_finite() {
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x);
                    y1 = y1.max(y);
                }
            }
        }
        if x0 > x1 || y0 > y1 {
            return;
        }
        let (nx, ny) = (x1 - x0 + 1, y1 - y0 + 1);
        let mut z = Vec::with_capacity(nx * ny);
        for y in y0..=y1 {
            z.extend_from_slice(&self.z[y * self.nx + x0..=y * self.nx + x1]);
        }
        *self = Grid { nx, ny, z };
    }

    /// Robust form removal: least-squares polynomial fitted only to inliers (points within
    /// 2.5 robust sigmas of the previous fit, 4 rounds), then subtracted everywhere. A deep
    /// firing-pin crater or raised rim in a raw scan would otherwise bend the fit so much
    /// that it hides itself from the outlier trim.
    fn remove_form_robust(&mut self, order: u8) {
        let original = self.z.clone();
        let mut inlier: Vec<bool> = self.z.iter().map(|v| v.is_finite()).collect();
        for round in 0..4 {
            self.z.copy_from_slice(&original);
            self.remove_form(order, &inlier);
            if round == 3 {
                break;
            }
            let mut v: Vec<f64> = self
                .z
                .iter()
                .zip(&inlier)
                .filter(|(_, k)| **k)
                .map(|(z, _)| *z)
                .collect();
            if v.len() < 16 {
                break;
            }
            let med = median(&mut v);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
            let sigma = median(&mut dev) * 1.4826;
            for (k, z) in inlier.iter_mut().zip(&self.z) {
                *k = z.is_finite() && (z - med).abs() <= 2.5 * sigma;
            }
        }
    }

    /// Least-squares polynomial (order 1 or 2) over the `use_point` points, subtracted.
    fn remove_form(&mut self, order: u8, use_point: &[bool]) {
        let nterms = if order >= 2 { 6 } else { 3 };
        let (sx, sy) = (2.0 / self.nx.max(2) as f64, 2.0 / self.ny.max(2) as f64);
        let basis = |x: usize, y: usize| {
            let (u, v) = (x as f64 * sx - 1.0, y as f64 * sy - 1.0);
            [1.0, u, v, u * u, u * v, v * v]
        };
        let mut ata = [[0.0f64; 6]; 6];
        let mut atb = [0.0f64; 6];
        for y in 0..self.ny {
            for x in 0..self.nx {
                let z = self.z[y * self.nx + x];
                if !z.is_finite() || !use_point.get(y * self.nx + x).copied().unwrap_or(false) {
                    continue;
                }
                let b = basis(x, y);
                for i in 0..nterms {
                    atb[i] += b[i] * z;
                    for j in 0..nterms {
                        ata[i][j] += b[i] * b[j];
                    }
                }
            }
        }
        let Some(coef) = solve(ata, atb, nterms) else {
            return;
        };
        for y in 0..self.ny {
            for x in 0..self.nx {
                let b = basis(x, y);
                let fit: f64 = (0..nterms).map(|i| coef[i] * b[i]).sum();
                self.z[y * self.nx + x] -= fit;
            }
        }
    }

    /// Drop points further than `k` robust sigmas from the median.
    fn trim(&mut self, k: f64) {
        let mut v: Vec<f64> = self.z.iter().copied().filter(|v| v.is_finite()).collect();
        if v.len() < 3 {
            return;
        }
        let med = median(&mut v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
        let mad = median(&mut dev) * 1.4826;
        if mad <= 0.0 {
            return;
        }
        for z in &mut self.z {
            if (*z - med).abs() > k * mad {
                *z = f64::NAN;
            }
        }
    }

    /// Remove valid points within `r` pixels (chessboard) of a missing point or the border.
    fn erode(&mut self, r: usize) {
        for _ in 0..r {
            let old = self.z.clone();
            for y in 0..self.ny {
                for x in 0..self.nx {
                    let edge = [(-1, 0), (1, 0), (0, -1), (0, 1)].iter().any(|(dx, dy)| {
                        let (xx, yy) = (x as isize + dx, y as isize + dy);
                        xx < 0
                            || yy < 0
                            || xx as usize >= self.nx
                            || yy as usize >= self.ny
                            || !old[yy as usize * self.nx + xx as usize].is_finite()
                    });
                    if edge {
                        self.z[y * self.nx + x] = f64::NAN;
                    }
                }
            }
        }
    }

    fn standardise(&mut self) {
        let v: Vec<f64> = self.z.iter().copied().filter(|v| v.is_finite()).collect();
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-12);
        for z in &mut self.z {
            *z = (*z - mean) / sd;
        }
    }

    /// Centre of the breech face: the least-squares circle (Kasa fit) through the outermost
    /// valid point in each of 64 angular sectors, i.e. the primer / breech-face outline,
    /// refined three times. The outline is a physical feature of every cartridge case,
    /// unlike the centroid of valid points, which drifts towards whichever part of the
    /// face happened to be scanned well. Falls back to the centroid when fewer than 8
    /// sectors have points or the fit is degenerate. Nothing here is learned from data.
    fn center(&self) -> (f64, f64) {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for y in 0..self.ny {
            for x in 0..self.nx {
                if self.z[y * self.nx + x].is_finite() {
                    sx += x as f64;
                    sy += y as f64;
                    n += 1.0;
                }
            }
        }
        if n == 0.0 {
            return (self.nx as f64 / 2.0, self.ny as f64 / 2.0);
        }
        let centroid = (sx / n, sy / n);
        let mut c = ((self.nx as f64 - 1.0) / 2.0, (self.ny as f64 - 1.0) / 2.0);
        for _ in 0..3 {
            match self.fit_outline(c) {
                Some(next) => c = next,
                None => return centroid,
            }
        }
        c
    }

    /// One Kasa circle fit to the outermost valid point per angular sector around `c`.
    fn fit_outline(&self, c: (f64, f64)) -> Option<(f64, f64)> {
        const SECTORS: usize = 64;
        let mut far = [(0.0f64, 0.0f64, -1.0f64); SECTORS];
        for y in 0..self.ny {
            for x in 0..self.nx {
                if !self.z[y * self.nx + x].is_finite() {
                    continue;
                }
                let (dx, dy) = (x as f64 - c.0, y as f64 - c.1);
                let a = dy.atan2(dx).rem_euclid(std::f64::consts::TAU);
                let k = ((a / std::f64::consts::TAU * SECTORS as f64) as usize).min(SECTORS - 1);
                let r2 = dx * dx + dy * dy;
                if r2 > far[k].2 {
                    far[k] = (x as f64, y as f64, r2);
                }
            }
        }
        let pts: Vec<(f64, f64)> = far
            .iter()
            .filter(|p| p.2 >= 0.0)
            .map(|p| (p.0, p.1))
            .collect();
        if pts.len() < 8 {
            return None;
        }
        // Kasa: x^2 + y^2 = 2 a x + 2 b y + c, linear least squares in (a, b, c).
        let mut ata = [[0.0f64; 6]; 6];
        let mut atb = [0.0f64; 6];
        for &(x, y) in &pts {
            let row = [x, y, 1.0];
            let rhs = x * x + y * y;
            for i in 0..3 {
                atb[i] += row[i] * rhs;
                for j in 0..3 {
                    ata[i][j] += row[i] * row[j];
                }
            }
        }
        let sol = solve(ata, atb, 3)?;
        let (cx, cy) = (sol[0] / 2.0, sol[1] / 2.0);
        let inside = |v: f64, n: usize| v > -(n as f64) && v < 2.0 * n as f64;
        (cx.is_finite() && cy.is_finite() && inside(cx, self.nx) && inside(cy, self.ny))
            .then_some((cx, cy))
    }
}

/// Median of a non-empty slice (reorders it).
fn median(v: &mut [f64]) -> f64 {
    let mid = v.len() / 2;
    v.select_nth_unstable_by(mid, f64::total_cmp);
    v[mid]
}

/// Gaussian elimination with partial pivoting on the leading `n` x `n` block.
fn solve(mut a: [[f64; 6]; 6], mut b: [f64; 6], n: usize) -> Option<[f64; 6]> {
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let pivot_row = a[col];
        for row in col + 1..n {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..n].iter_mut().zip(&pivot_row[col..n]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 6];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// Transpose a row-major `w` x `h` grid.
fn transpose_f64(src: &[f64], w: usize, h: usize) -> Vec<f64> {
    let mut out = vec![0.0; src.len()];
    for (y, row) in src.chunks_exact(w).enumerate().take(h) {
        for (x, v) in row.iter().enumerate() {
            if let Some(o) = out.get_mut(x * h + y) {
                *o = *v;
            }
        }
    }
    out
}

/// NaN-aware separable Gaussian filter: filter(z*w) / filter(w), with w the validity mask.
/// Output is `NaN` where the input is `NaN` (the region of interest never grows).
pub(crate) fn gaussian_nan(g: &Grid, sigma: f64) -> Vec<f64> {
    if sigma.is_nan() || sigma <= 0.0 {
        return g.z.clone();
    }
    // Truncate at 3 sigma, and never wider than the grid (sigma can come from parameters).
    let r = (3.0 * sigma).ceil().min(g.nx.max(g.ny) as f64) as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let w: Vec<f64> =
        g.z.iter()
            .map(|v| if v.is_finite() { 1.0 } else { 0.0 })
            .collect();
    let zw: Vec<f64> =
        g.z.iter()
            .map(|v| if v.is_finite() { *v } else { 0.0 })
            .collect();
    // Horizontal pass over rows, then the same on the transpose for the vertical pass.
    let conv = |src: &[f64], horizontal: bool| -> Vec<f64> {
        let (w, h) = if horizontal {
            (g.nx, g.ny)
        } else {
            (g.ny, g.nx)
        };
        let input = if horizontal {
            src.to_vec()
        } else {
            transpose_f64(src, g.nx, g.ny)
        };
        let mut out = vec![0.0; src.len()];
        let mut line = vec![0.0; w + 2 * r as usize];
        for (row_in, row_out) in input.chunks_exact(w).zip(out.chunks_exact_mut(w)).take(h) {
            // Zero-padded copy so the inner loop is a plain dot product.
            line[r as usize..r as usize + w].copy_from_slice(row_in);
            for (x, o) in row_out.iter_mut().enumerate() {
                *o = line[x..x + k.len()]
                    .iter()
                    .zip(&k)
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        if horizontal {
            out
        } else {
            transpose_f64(&out, g.ny, g.nx)
        }
    };
    let num = conv(&conv(&zw, true), false);
    let den = conv(&conv(&w, true), false);
    g.z.iter()
        .zip(num.iter().zip(&den))
        .map(|(z, (n, d))| {
            if z.is_finite() && *d > 1e-9 {
                n / d
            } else {
                f64::NAN
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_scan(n: usize) -> X3pScan {
        let c = n as f64 / 2.0;
        let z = (0..n * n)
            .map(|i| {
                let (x, y) = ((i % n) as f64, (i / n) as f64);
                let r = ((x - c).powi(2) + (y - c).powi(2)).sqrt();
                if r < n as f64 * 0.15 || r > n as f64 * 0.48 {
                    f64::NAN
                } else {
                    // tilt + texture (metres)
                    1e-6 * (0.5 * x + 0.2 * y + (x * 0.7).sin() * (y * 0.3).cos())
                }
            })
            .collect();
        X3pScan::new(n, n, 6.25e-6, 6.25e-6, z)
    }

    #[test]
    fn prepare_standardises_and_finds_outline_centre() {
        let s = prepare(&ring_scan(200), &PrepParams::default()).expect("prepares");
        assert_eq!(s.pixel_um, 12.5);
        assert!(s.nx <= 100 && s.nx >= 90, "nx {}", s.nx);
        let v: Vec<f32> = s.z.iter().copied().filter(|v| v.is_finite()).collect();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 1e-3);
        let (cx, cy) = s.center;
        assert!((cx - s.nx as f64 / 2.0).abs() < 3.0 && (cy - s.ny as f64 / 2.0).abs() < 3.0);
    }

    /// A raw-like scan: no missing data, a deep firing-pin crater in the middle and a raised
    /// rim outside the breech face. Both must be removed as outliers.
    #[test]
    fn raw_scan_crater_and_rim_removed() {
        let n = 200;
        let c = n as f64 / 2.0;
        let z: Vec<f64> = (0..n * n)
            .map(|i| {
                let (x, y) = ((i % n) as f64, (i / n) as f64);
                let r = ((x - c).powi(2) + (y - c).powi(2)).sqrt();
                let texture = (x * 0.9).sin() * (y * 0.4).cos() + 0.01 * x;
                let form = if r < 30.0 {
                    -80.0
                } else if r > 95.0 {
                    40.0
                } else {
                    0.0
                };
                (texture + form) * 1e-6
            })
            .collect();
        let s = prepare(
            &X3pScan::new(n, n, 6.25e-6, 6.25e-6, z),
            &PrepParams::default(),
        )
        .expect("prepares");
        let (cx, cy) = (s.nx as isize / 2, s.ny as isize / 2);
        assert!(s.get(cx, cy).is_nan(), "crater removed");
        assert!(s.get(0, 0).is_nan(), "rim removed");
        assert!(s.get(cx + 30, cy).is_finite(), "breech face kept");
    }

    #[test]
    fn odd_inputs_are_errors_not_panics() {
        let p = PrepParams::default();
        let nan = X3pScan::new(50, 50, 6.25e-6, 6.25e-6, vec![f64::NAN; 2500]);
        assert!(matches!(prepare(&nan, &p), Err(PrepError::TooFewPoints(0))));
        let row = X3pScan::new(5000, 1, 6.25e-6, 6.25e-6, vec![1e-6; 5000]);
        assert!(prepare(&row, &p).is_err());
        let bad_inc = X3pScan::new(50, 50, f64::NAN, 6.25e-6, vec![0.0; 2500]);
        assert!(matches!(
            prepare(&bad_inc, &p),
            Err(PrepError::BadResolution(..))
        ));
        let short = X3pScan::new(50, 50, 6.25e-6, 6.25e-6, vec![0.0; 10]);
        assert!(matches!(
            prepare(&short, &p),
            Err(PrepError::BadShape { .. })
        ));
        let tiny_res = PrepParams {
            resolution_um: 0.01,
            ..PrepParams::default()
        };
        assert_eq!(
            prepare(&ring_scan(100), &tiny_res),
            Err(PrepError::BadParams)
        );
    }

    #[test]
    fn too_small_is_error() {
        let scan = X3pScan::new(10, 10, 6.25e-6, 6.25e-6, vec![0.0; 100]);
        assert!(matches!(
            prepare(&scan, &PrepParams::default()),
            Err(PrepError::TooFewPoints(_))
        ));
    }
}
