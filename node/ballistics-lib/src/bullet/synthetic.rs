//! Synthetic land scans with known striae, for tests: a barrel's striae pattern (seeded),
//! shifted and partly re-drawn per shot, on a curved land with groove shoulders at both
//! sides. They exercise the pipeline; they are never used to claim accuracy.

use crate::synthetic::SplitMix;
use crate::x3p::X3pScan;

/// Generator settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LandParams {
    /// Point spacing (µm).
    pub pitch_um: f64,
    /// Extent across the striae, grooves included (µm).
    pub width_um: f64,
    /// Extent along the striae (µm).
    pub length_um: f64,
    /// Width of each groove area at the sides (µm).
    pub groove_um: f64,
    /// Per-shot striae, relative to the barrel's (0 = perfect copies).
    pub shot_weight: f64,
    /// Measurement noise (µm).
    pub noise_um: f64,
    /// Store the striae along x (rows along the bullet axis) instead of along y.
    pub striae_along_x: bool,
}

impl Default for LandParams {
    fn default() -> Self {
        Self {
            pitch_um: 1.5625,
            width_um: 2200.0,
            length_um: 300.0,
            groove_um: 180.0,
            shot_weight: 0.4,
            noise_um: 0.1,
            striae_along_x: false,
        }
    }
}

/// A smooth random profile (unit sd) of `n` points, correlated over about `w` points.
fn profile(rng: &mut SplitMix, n: usize, w: usize) -> Vec<f64> {
    let raw: Vec<f64> = (0..n + 2 * w).map(|_| rng.normal()).collect();
    let mut out = super::land::moving_average(&raw, w | 1);
    out = super::land::moving_average(&out, w | 1);
    let out = out[w..w + n].to_vec();
    let sd = (out.iter().map(|v| v * v).sum::<f64>() / n.max(1) as f64)
        .sqrt()
        .max(1e-12);
    out.iter().map(|v| v / sd).collect()
}

/// Land `land` of a bullet fired from barrel `barrel`, shot `shot`: heights in metres.
pub fn synthetic_land(barrel: u64, land: u64, shot: u64, p: &LandParams) -> X3pScan {
    let nx = (p.width_um / p.pitch_um).round().max(8.0) as usize;
    let ny = (p.length_um / p.pitch_um).round().max(8.0) as usize;
    // The barrel's striae, on a fixed 0.5 µm grid (so that scans at any resolution see the
    // same marks), cover 60 µm more on each side than the land so that shots can shift.
    let fine = 0.5;
    let margin = (60.0 / fine) as usize;
    let total = (p.width_um / fine) as usize + 2 * margin + 2;
    let w = (12.0 / fine) as usize;
    let mut brng = SplitMix(barrel.wrapping_mul(1_000_003).wrapping_add(land));
    let class = profile(&mut brng, total, w);
    let mut srng = SplitMix(
        shot.wrapping_mul(7_919)
            .wrapping_add(barrel.wrapping_mul(104_729))
            .wrapping_add(land)
            ^ 0x5DEE_CE66,
    );
    let own = profile(&mut srng, total, w);
    let shift = (srng.uniform() * 2.0 * margin as f64) as usize;
    let radius = 4500.0;
    let centre = p.width_um / 2.0;
    let mut z = vec![0.0f64; nx * ny];
    for y in 0..ny {
        for x in 0..nx {
            let xu = x as f64 * p.pitch_um;
            let at = ((x as f64 * p.pitch_um / fine) as usize + shift).min(total - 1);
            let s = class[at] + p.shot_weight * own[at];
            let d = xu - centre;
            let arc = (radius * radius - d * d).max(0.0).sqrt() - radius;
            let into_groove = (p.groove_um - xu).max(xu - (p.width_um - p.groove_um));
            let shoulder = if into_groove > 0.0 {
                (into_groove / 40.0).min(1.0) * 25.0
            } else {
                0.0
            };
            let h = arc + 1.5 * s + shoulder + p.noise_um * srng.normal();
            // A corner of missing data, as at a scan's heel.
            let missing = y + 10 > ny && x < nx / 10;
            let v = if missing { f64::NAN } else { h * 1e-6 };
            if p.striae_along_x {
                z[x * ny + y] = v;
            } else {
                z[y * nx + x] = v;
            }
        }
    }
    let (sx, sy) = if p.striae_along_x { (ny, nx) } else { (nx, ny) };
    let inc = p.pitch_um * 1e-6;
    X3pScan::new(sx, sy, inc, inc, z)
}
