//! The polar cross-ring descriptor behind the screening digest, with its parameters made
//! explicit so that they can be chosen by cross-validation ([`crate::crossval`]) and
//! evaluated at several breech-face centres (the multi-centre digest of
//! [`crate::signature`]).
//!
//! For a centre c the surface is sampled on polar rings about c; per ring r the angular FFT
//! `F(r, k)` is normalised to unit energy, whitened per frequency, and the features are the
//! cross-ring products `F(r, k) conj(F(r + d, k))` (rotation-invariant: a rotation
//! multiplies every `F(r, k)` by the same `e^{ikφ}`). See the project notes, sections 3-4.

use rustfft::{FftPlanner, num_complex::Complex32};

use crate::preprocess::{Grid, Surface, gaussian_nan};

/// Angular samples per ring (FFT length): ~42 µm spacing at a 1.7 mm radius, finer inside.
pub const ANGLES: usize = 256;

/// Anti-aliasing before polar sampling: Gaussian sigma in µm, about half the ~45 µm polar
/// sample spacing, so ring samples average the area they stand for.
pub const ANTIALIAS_UM: f64 = 20.0;

/// Parameters of the polar descriptor. [`DescriptorParams::default`] is the screening
/// digest's setting; the provenance of each value is documented on the field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DescriptorParams {
    /// Inner radius (µm). 9 mm firing-pin apertures are ~0.6 mm across, so 300 µm is the
    /// smallest radius that can hold breech-face marks at all (physical size).
    pub inner_um: f64,
    /// Outer radius (µm): the CSAFE 9 mm crops stop at ~1.7 mm (physical size of the
    /// scanned breech face; a smaller scanned region leaves outer rings partly empty, and
    /// empty samples are weighted out by [`DescriptorParams::coverage_weight`]).
    pub outer_um: f64,
    /// Number of rings between the radii.
    pub rings: usize,
    /// Angular frequencies kept (k = 1..=freqs). A centring error e moves phases at
    /// frequency k on radius r by about k e / r, so fewer frequencies tolerate more error.
    pub freqs: usize,
    /// Ring offsets of the cross-ring products (in rings).
    pub steps: Vec<usize>,
    /// Weight each ring by the share of its samples that hold data, so that a ring that is
    /// mostly missing (partial scans, rings beyond the scanned region) does not get the
    /// same weight as a complete one after the per-ring normalisation.
    pub coverage_weight: bool,
}

impl Default for DescriptorParams {
    fn default() -> Self {
        use crate::signature::{FREQS, INNER_UM, OUTER_UM, RING_STEPS, RINGS};
        Self {
            inner_um: INNER_UM,
            outer_um: OUTER_UM,
            rings: RINGS,
            freqs: FREQS,
            steps: RING_STEPS.to_vec(),
            coverage_weight: false,
        }
    }
}

impl DescriptorParams {
    /// Length of the feature vector.
    pub fn dims(&self) -> usize {
        self.steps
            .iter()
            .map(|&d| 2 * self.freqs * self.rings.saturating_sub(d))
            .sum()
    }
}

/// The surface smoothed for polar sampling (computed once per scan, reused for every centre).
pub fn smoothed(surface: &Surface) -> Surface {
    let g = Grid {
        nx: surface.nx,
        ny: surface.ny,
        z: surface.z.iter().map(|&v| f64::from(v)).collect(),
    };
    let z = gaussian_nan(&g, ANTIALIAS_UM / surface.pixel_um);
    Surface {
        z: z.iter().map(|&v| v as f32).collect(),
        ..surface.clone()
    }
}

/// Polar ring samples (rings x [`ANGLES`]) about `centre` (pixels), missing points as 0
/// (the surface mean), and the share of valid samples per ring.
fn polar(smooth: &Surface, centre: (f64, f64), p: &DescriptorParams) -> (Vec<Complex32>, Vec<f32>) {
    let (cx, cy) = centre;
    let mut out = vec![Complex32::new(0.0, 0.0); p.rings * ANGLES];
    let mut coverage = vec![0.0f32; p.rings];
    let sin_cos: Vec<(f64, f64)> = (0..ANGLES)
        .map(|a| (std::f64::consts::TAU * a as f64 / ANGLES as f64).sin_cos())
        .collect();
    for (r, (ring, cov)) in out.chunks_exact_mut(ANGLES).zip(&mut coverage).enumerate() {
        let frac = if p.rings > 1 {
            r as f64 / (p.rings - 1) as f64
        } else {
            0.0
        };
        let rad = (p.inner_um + (p.outer_um - p.inner_um) * frac) / smooth.pixel_um;
        let mut valid = 0usize;
        for (o, &(s, c)) in ring.iter_mut().zip(&sin_cos) {
            let v = smooth.sample(cx + rad * c, cy + rad * s);
            if v.is_finite() {
                *o = Complex32::new(v, 0.0);
                valid += 1;
            }
        }
        *cov = valid as f32 / ANGLES as f32;
    }
    (out, coverage)
}

/// Feature vector (length [`DescriptorParams::dims`]) of a [`smoothed`] surface about
/// `centre` (pixel coordinates).
pub fn features_at(smooth: &Surface, centre: (f64, f64), p: &DescriptorParams) -> Vec<f32> {
    let freqs = p.freqs.min(ANGLES / 2 - 1);
    let (mut rings, coverage) = polar(smooth, centre, p);
    let fft = FftPlanner::<f32>::new().plan_fft_forward(ANGLES);
    for ring in rings.chunks_exact_mut(ANGLES) {
        fft.process(ring);
    }
    let nr = p.rings;
    let mut spec = vec![Complex32::new(0.0, 0.0); nr * freqs];
    for r in 0..nr {
        // Unit energy per ring first: contrast varies with how well each zone was marked
        // and scanned; the pattern is what identifies the gun.
        let src = &rings[r * ANGLES + 1..r * ANGLES + 1 + freqs];
        let e = src.iter().map(|c| c.norm_sqr()).sum::<f32>().sqrt();
        let w = if p.coverage_weight { coverage[r] } else { 1.0 };
        if e > 1e-9 {
            for (d, s) in spec[r * freqs..(r + 1) * freqs].iter_mut().zip(src) {
                *d = s * (w / e);
            }
        }
    }
    // Whiten per frequency (divide by its RMS over this scan's rings): surface spectra fall
    // steeply with k, and without this the coarse, class-level undulations would dominate
    // the finer individual marks. Uses only the scan itself, nothing learned.
    for k in 0..freqs {
        let rms = ((0..nr).map(|r| spec[r * freqs + k].norm_sqr()).sum::<f32>() / nr.max(1) as f32)
            .sqrt();
        if rms > 1e-9 {
            for r in 0..nr {
                spec[r * freqs + k] /= rms;
            }
        }
    }
    let mut f = Vec::with_capacity(p.dims());
    for &d in &p.steps {
        let mut block = Vec::with_capacity(2 * freqs * nr.saturating_sub(d));
        for r in 0..nr.saturating_sub(d) {
            for k in 0..freqs {
                let q = spec[r * freqs + k] * spec[(r + d) * freqs + k].conj();
                block.push(q.re);
                block.push(q.im);
            }
        }
        push_block(&mut f, &block);
    }
    f
}

/// Append a block scaled to unit norm, so each block weighs the same in the cosine.
fn push_block(out: &mut Vec<f32>, block: &[f32]) {
    let n = block.iter().map(|v| v * v).sum::<f32>().sqrt();
    let s = if n > 1e-12 { 1.0 / n } else { 0.0 };
    out.extend(block.iter().map(|v| v * s));
}

/// Centre offsets (µm) on a hexagonal lattice of `spacing_um`: the origin, then `shells`
/// rings of 6, 12, ... points (1, 7, 19, 37 offsets for 0-3 shells).
pub fn hex_offsets(spacing_um: f64, shells: usize) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 0.0)];
    // Axial coordinates (q, r) with hex distance 1..=shells.
    let s = shells as i64;
    for q in -s..=s {
        for r in -s..=s {
            let d = (q.abs() + r.abs() + (q + r).abs()) / 2;
            if d == 0 || d > s {
                continue;
            }
            let x = spacing_um * (q as f64 + r as f64 / 2.0);
            let y = spacing_um * (r as f64 * 3f64.sqrt() / 2.0);
            out.push((x, y));
        }
    }
    out
}

/// Cosine similarity of two float vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        ab += f64::from(*x) * f64::from(*y);
        aa += f64::from(*x) * f64::from(*x);
        bb += f64::from(*y) * f64::from(*y);
    }
    if aa > 0.0 && bb > 0.0 {
        (ab / (aa * bb).sqrt()) as f32
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_offsets_counts_and_spacing() {
        assert_eq!(hex_offsets(50.0, 0).len(), 1);
        assert_eq!(hex_offsets(50.0, 1).len(), 7);
        assert_eq!(hex_offsets(50.0, 2).len(), 19);
        for (x, y) in hex_offsets(50.0, 1).iter().skip(1) {
            assert!((x.hypot(*y) - 50.0).abs() < 1e-9);
        }
    }

    #[test]
    fn dims_match_features() {
        let p = DescriptorParams::default();
        let n = 80;
        let z: Vec<f32> = (0..n * n)
            .map(|i| ((i % n) as f32 * 0.7).sin() + ((i / n) as f32 * 0.3).cos())
            .collect();
        let s = Surface {
            nx: n,
            ny: n,
            pixel_um: 50.0,
            z,
            center: (40.0, 40.0),
        };
        let f = features_at(&smoothed(&s), s.center, &p);
        assert_eq!(f.len(), p.dims());
        assert_eq!(p.dims(), crate::signature::RAW_DIMS);
    }
}
