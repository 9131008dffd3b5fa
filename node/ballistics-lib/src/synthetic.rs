//! Synthetic breech-face scans for volume and plumbing tests, deterministic from seeds.
//!
//! Model (heights in µm before conversion to metres):
//! - **class** (make seed): machining striae — a few parallel sinusoid families at a
//!   make-specific angle — plus a smooth random field; shared by all guns of a make, so
//!   different guns of one make are *not* trivially separable;
//! - **individual** (gun seed): band-limited random fields at two scales (marks ~25-75 µm),
//!   the part that identifies a gun;
//! - **per shot** (shot seed): partial transfer (the individual marks are multiplied by a
//!   smooth random gain in 0.4..1), fine measurement noise, a random rotation (full circle),
//!   a translation, and random missing blobs; the region of interest is an annulus
//!   (primer outline and firing-pin aperture).
//!
//! These scans exercise code paths and throughput; they are never used to claim accuracy.

use crate::preprocess::{Grid, gaussian_nan};
use crate::x3p::X3pScan;

/// SplitMix64: tiny, seedable, good enough for test data; no dependency needed.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Generator settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticParams {
    /// Grid size (points per side).
    pub size: usize,
    /// Point spacing (µm); 6.25 µm like the CSAFE processed scans.
    pub pixel_um: f64,
    /// Weight of the make's class marks relative to the individual marks.
    pub class_weight: f64,
    /// Standard deviation of per-shot noise relative to the individual marks.
    pub shot_noise: f64,
    /// Largest translation (fraction of the grid size).
    pub max_shift_frac: f64,
    /// Number of missing blobs per shot.
    pub dropouts: usize,
}

impl Default for SyntheticParams {
    fn default() -> Self {
        Self {
            size: 400,
            pixel_um: 6.25,
            class_weight: 0.7,
            shot_noise: 0.5,
            max_shift_frac: 0.03,
            dropouts: 3,
        }
    }
}

/// A smooth random field with unit standard deviation.
fn field(rng: &mut SplitMix, n: usize, sigma_px: f64) -> Vec<f64> {
    let z: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
    let mut f = gaussian_nan(&Grid { nx: n, ny: n, z }, sigma_px);
    let sd = (f.iter().map(|v| v * v).sum::<f64>() / f.len().max(1) as f64)
        .sqrt()
        .max(1e-12);
    for v in &mut f {
        *v /= sd;
    }
    f
}

/// Pattern of a gun in its own frame (n x n, µm).
fn gun_pattern(make_seed: u64, gun_seed: u64, p: &SyntheticParams) -> Vec<f64> {
    let n = p.size;
    let mut make = SplitMix(make_seed ^ 0x6D61_6B65);
    let angle = make.uniform() * std::f64::consts::PI;
    let (s, c) = angle.sin_cos();
    let waves: Vec<(f64, f64)> = (0..4)
        .map(|_| {
            (
                20.0 + 60.0 * make.uniform(),
                make.uniform() * std::f64::consts::TAU,
            )
        })
        .collect();
    let class_field = field(&mut make, n, 40.0 / p.pixel_um);
    let mut gun = SplitMix(gun_seed.wrapping_mul(0x9E37_79B9) ^ make_seed);
    let fine = field(&mut gun, n, 25.0 / p.pixel_um);
    let coarse = field(&mut gun, n, 75.0 / p.pixel_um);
    (0..n * n)
        .map(|i| {
            let (x, y) = ((i % n) as f64 * p.pixel_um, (i / n) as f64 * p.pixel_um);
            let u = c * x + s * y;
            let striae: f64 = waves
                .iter()
                .map(|(wl, ph)| (u / wl * std::f64::consts::TAU + ph).sin())
                .sum::<f64>()
                / 2.0;
            p.class_weight * (striae + class_field[i]) + fine[i] + 0.7 * coarse[i]
        })
        .collect()
}

/// Bilinear lookup with NaN outside.
fn lookup(z: &[f64], n: usize, x: f64, y: f64) -> f64 {
    let (x0, y0) = (x.floor(), y.floor());
    if x0 < 0.0 || y0 < 0.0 || x0 + 1.0 >= n as f64 || y0 + 1.0 >= n as f64 {
        return f64::NAN;
    }
    let (xi, yi) = (x0 as usize, y0 as usize);
    let (fx, fy) = (x - x0, y - y0);
    let g = |xx: usize, yy: usize| z.get(yy * n + xx).copied().unwrap_or(f64::NAN);
    (g(xi, yi) * (1.0 - fx) + g(xi + 1, yi) * fx) * (1.0 - fy)
        + (g(xi, yi + 1) * (1.0 - fx) + g(xi + 1, yi + 1) * fx) * fy
}

/// One synthetic scan of shot `shot_seed` from gun `gun_seed` of make `make_seed`.
pub fn synthetic_scan(
    make_seed: u64,
    gun_seed: u64,
    shot_seed: u64,
    params: &SyntheticParams,
) -> X3pScan {
    let n = params.size.max(16);
    let p = SyntheticParams {
        size: n,
        ..params.clone()
    };
    let pattern = gun_pattern(make_seed, gun_seed, &p);
    let mut shot = SplitMix(shot_seed ^ gun_seed.rotate_left(17) ^ make_seed.rotate_left(41));
    let gain = field(&mut shot, n, 150.0 / p.pixel_um);
    let noise = field(&mut shot, n, 1.0);
    let theta = shot.uniform() * std::f64::consts::TAU;
    let (s, c) = theta.sin_cos();
    let max_shift = p.max_shift_frac * n as f64;
    let (tx, ty) = (
        (shot.uniform() * 2.0 - 1.0) * max_shift,
        (shot.uniform() * 2.0 - 1.0) * max_shift,
    );
    let blobs: Vec<(f64, f64, f64)> = (0..p.dropouts)
        .map(|_| {
            (
                shot.uniform() * n as f64,
                shot.uniform() * n as f64,
                (0.03 + 0.05 * shot.uniform()) * n as f64,
            )
        })
        .collect();
    let centre = (n as f64 - 1.0) / 2.0;
    let (outer, hole) = (0.46 * n as f64, 0.17 * n as f64);
    let mut z = vec![f64::NAN; n * n];
    for y in 0..n {
        for x in 0..n {
            // Output pixel relative to the shot's (translated) centre.
            let (dx, dy) = (x as f64 - centre - tx, y as f64 - centre - ty);
            let r = (dx * dx + dy * dy).sqrt();
            if r > outer
                || r < hole
                || blobs
                    .iter()
                    .any(|(bx, by, br)| (x as f64 - bx).hypot(y as f64 - by) < *br)
            {
                continue;
            }
            // Gun frame: rotate back by theta.
            let (gx, gy) = (c * dx + s * dy + centre, -s * dx + c * dy + centre);
            let i = y * n + x;
            let transfer = 0.7 + 0.3 * gain[i].clamp(-1.0, 1.0);
            let v = transfer * lookup(&pattern, n, gx, gy) + p.shot_noise * noise[i];
            // A slight tilt, as an unlevelled instrument would record (µm -> m).
            z[i] = (v + 0.002 * (x as f64) - 0.001 * (y as f64)) * 1e-6;
        }
    }
    let mut scan = X3pScan::new(n, n, p.pixel_um * 1e-6, p.pixel_um * 1e-6, z);
    scan.creator = Some("striae-ballistics-lib synthetic".to_string());
    scan.comment = Some(format!(
        "synthetic make {make_seed} gun {gun_seed} shot {shot_seed}"
    ));
    scan
}
