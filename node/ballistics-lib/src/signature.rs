//! Rotation- and translation-invariant breech-face signature, its compact int8 [`Digest`]
//! (the only thing bureaus share for screening), the screening score, and [`DigestIndex`],
//! a flat scan over packed digests.
//!
//! Signature: the surface is resampled on polar rings about the breech-face centre (fitted
//! primer outline, see [`crate::preprocess::Surface::center`]), so a rotation of the case
//! becomes a circular shift along each ring. Per ring r the angular FFT `F(r, k)` is taken,
//! normalised to unit energy per ring and whitened per frequency (both using only the scan
//! itself); the features are the cross-ring products `F(r, k) conj(F(r + d, k))` for ring
//! offsets d = 2, 4. A rotation multiplies `F(r, k)` by `e^{ikφ}` for every r, which
//! cancels in each product, so the signature is rotation-invariant; centring on the
//! outline makes it translation-invariant. This is the "cross-ring phase" descriptor of
//! the project notes (sections 3-4), which found int8 quantisation lossless. Plain ring
//! magnitudes `|F(r, k)|` are left out: the notes measured them near chance for top-1.
//!
//! Provenance of the values: radii, angular sampling and frequencies follow from the
//! physical sizes (documented per constant). The ring offsets, per-frequency whitening and
//! K were picked among a handful of variants tried on the Fadul set (like the notes'
//! experiment), so the Fadul screening figures are optimistic; check on other sets.

use std::sync::Arc;

use rustfft::{FftPlanner, num_complex::Complex32};
use thiserror::Error;

use crate::descriptor::{DescriptorParams, features_at, hex_offsets, smoothed};
use crate::preprocess::Surface;

/// Number of polar rings. With [`INNER_UM`]..[`OUTER_UM`] rings are ~61 µm apart.
pub const RINGS: usize = 24;
/// Angular samples per ring (FFT length): ~42 µm spacing at the outer ring, finer inside.
pub const ANGLES: usize = 256;
/// Angular frequencies kept (k = 1..=K; k = 0 is the ring mean, removed by levelling).
/// k = 48 resolves marks ~0.13 mm long at 1 mm radius (the scale of breech-face
/// impressions) while a centring error e shifts phases by only about k e / r.
pub const FREQS: usize = 48;
/// Inner radius (µm): the firing-pin aperture of 9 mm cases is about 0.6 mm across.
pub const INNER_UM: f64 = 300.0;
/// Outer radius (µm): a 9 mm Luger primer is ~4.4 mm across; the CSAFE crops stop at ~1.7 mm.
pub const OUTER_UM: f64 = 1_700.0;
/// Ring offsets for the cross-ring products (~120 and ~240 µm): beyond the correlation
/// length of the marks, so the relative phase carries pattern, not just smoothness.
pub(crate) const RING_STEPS: [usize; 2] = [2, 4];

/// Raw feature dimensions: complex cross-ring products for each ring offset.
pub const RAW_DIMS: usize = 2 * FREQS * ((RINGS - RING_STEPS[0]) + (RINGS - RING_STEPS[1]));
/// Digest dimensions (int8 each): the raw features padded to a multiple of 64.
pub const DIGEST_DIMS: usize = RAW_DIMS.div_ceil(64) * 64;
const _: () = assert!(DIGEST_DIMS.is_multiple_of(64) && DIGEST_DIMS >= RAW_DIMS);
/// Header: 4-byte magic/version + f32 inverse norm of the int8 vector.
const HEADER: usize = 8;
/// Serialised digest size in bytes.
pub const DIGEST_BYTES: usize = HEADER + DIGEST_DIMS;
const MAGIC: [u8; 4] = *b"SBD1";

/// Errors decoding a serialised digest.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DigestError {
    #[error("digest has {0} bytes, expected {DIGEST_BYTES}")]
    Length(usize),
    #[error("digest magic/version is {0:?}, expected SBD1")]
    Magic([u8; 4]),
    #[error("digest norm field is not a finite non-negative number")]
    Norm,
}

/// Spacing (µm) of the hexagonal lattice of breech-face centres at which a probe is
/// described ([`PROBE_OFFSET_SHELLS`] shells: 37 centres within 300 µm of the fitted one).
/// Chosen by 5-fold cross-validation by gun on the Fadul known scans under the
/// perturbations of [`crate::perturb`]: every fold chose 100 µm x 3 shells among
/// [`crate::crossval::standard_candidates`] (0-3 shells at 50, 75, 100 µm), on its
/// training guns only (see `docs/ballistics.md`). The descriptor decorrelates beyond a
/// centring difference of roughly 40-50 µm, and the fitted centres of two scans of one case
/// differ by tens to a couple of hundred µm.
pub const PROBE_OFFSET_SPACING_UM: f64 = 100.0;
/// Shells of the probe-centre lattice (see [`PROBE_OFFSET_SPACING_UM`]); 3 shells = 37
/// centres, which costs 37 dot products per held digest in a search. Larger lattices were
/// not considered, to keep a search within ~40x of a single-centre scan.
pub const PROBE_OFFSET_SHELLS: usize = 3;

/// Compact screening digest: an int8-quantised signature and the inverse of its norm.
///
/// A digest made by [`digest`] from a surface also carries, in memory only, the signatures
/// at the other probe centres ([`PROBE_OFFSET_SPACING_UM`]): used when it is the probe of a
/// search, never serialised (the shared form is [`DIGEST_BYTES`] long and holds the fitted
/// centre's signature only). Equality compares the shared form.
#[derive(Debug, Clone)]
pub struct Digest {
    q: Vec<i8>,
    inv_norm: f32,
    /// Signatures at the other probe centres (quantised vector, inverse norm).
    views: Vec<(Vec<i8>, f32)>,
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.q == other.q && self.inv_norm.to_bits() == other.inv_norm.to_bits()
    }
}

impl Digest {
    /// Fixed-size little-endian serialisation ([`DIGEST_BYTES`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DIGEST_BYTES);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.inv_norm.to_le_bytes());
        out.extend(self.q.iter().map(|&v| v as u8));
        out
    }

    /// Parse [`Digest::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Digest, DigestError> {
        if bytes.len() != DIGEST_BYTES {
            return Err(DigestError::Length(bytes.len()));
        }
        let (head, body) = bytes.split_at(HEADER);
        let magic = [head[0], head[1], head[2], head[3]];
        if magic != MAGIC {
            return Err(DigestError::Magic(magic));
        }
        let inv_norm = f32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if !inv_norm.is_finite() || inv_norm < 0.0 {
            return Err(DigestError::Norm);
        }
        Ok(Digest {
            q: body.iter().map(|&b| b as i8).collect(),
            inv_norm,
            views: Vec::new(),
        })
    }

    /// The quantised vector.
    pub fn values(&self) -> &[i8] {
        &self.q
    }

    /// Number of probe centres this digest carries (1 for a digest read from bytes).
    pub fn probe_views(&self) -> usize {
        1 + self.views.len()
    }

    /// This digest without its in-memory probe views (as another bureau receives it).
    pub fn shared(&self) -> Digest {
        Digest {
            views: Vec::new(),
            ..self.clone()
        }
    }

    /// All probe signatures: the fitted centre's first.
    fn probe_rows(&self) -> impl Iterator<Item = (&[i8], f32)> {
        std::iter::once((self.q.as_slice(), self.inv_norm))
            .chain(self.views.iter().map(|(q, n)| (q.as_slice(), *n)))
    }

    /// Build from a float feature vector (quantised to int8 with per-digest scale).
    fn from_features(f: &[f32]) -> Digest {
        let max = f.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { 127.0 / max } else { 0.0 };
        let mut q = vec![0i8; DIGEST_DIMS];
        for (o, v) in q.iter_mut().zip(f) {
            *o = (v * scale).round().clamp(-127.0, 127.0) as i8;
        }
        let n2: i64 = q.iter().map(|&v| i64::from(v) * i64::from(v)).sum();
        let inv_norm = if n2 > 0 {
            1.0 / (n2 as f32).sqrt()
        } else {
            0.0
        };
        Digest {
            q,
            inv_norm,
            views: Vec::new(),
        }
    }
}

/// Screening similarity of `probe` against a held `candidate`, in [-1, 1]: the best cosine
/// of any of the probe's signatures (one per probe centre, see [`Digest::probe_views`])
/// against the candidate's fitted-centre signature. Not symmetric when the probe carries
/// views; for two digests read from bytes it is the plain cosine.
pub fn screen_score(probe: &Digest, candidate: &Digest) -> f32 {
    probe
        .probe_rows()
        .map(|(q, n)| dot_i8(q, &candidate.q) as f32 * n * candidate.inv_norm)
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Compute the digest of a prepared surface: the polar cross-ring signature about the
/// fitted centre (the shared form), plus the probe views about the other centres of the
/// [`PROBE_OFFSET_SPACING_UM`] lattice.
pub fn digest(surface: &Surface) -> Digest {
    if !surface.is_consistent() {
        return Digest::from_features(&[]);
    }
    let params = DescriptorParams::default();
    let smooth = smoothed(surface);
    let at = |(dx, dy): (f64, f64)| {
        let c = (
            surface.center.0 + dx / surface.pixel_um,
            surface.center.1 + dy / surface.pixel_um,
        );
        let mut f = features_at(&smooth, c, &params);
        f.resize(DIGEST_DIMS, 0.0);
        Digest::from_features(&f)
    };
    let mut d = at((0.0, 0.0));
    d.views = hex_offsets(PROBE_OFFSET_SPACING_UM, PROBE_OFFSET_SHELLS)
        .into_iter()
        .skip(1)
        .map(|o| {
            let v = at(o);
            (v.q, v.inv_norm)
        })
        .collect();
    d
}

/// Anti-aliasing before polar sampling: Gaussian sigma in µm, about half the ~45 µm polar
/// sample spacing, so ring samples average the area they stand for.
const ANTIALIAS_UM: f64 = 20.0;

/// Polar ring samples (RINGS x ANGLES), missing points as 0 (the surface mean).
fn polar(surface: &Surface) -> Vec<Complex32> {
    let smooth = smooth_surface(surface, ANTIALIAS_UM / surface.pixel_um);
    let (cx, cy) = surface.center;
    let mut out = vec![Complex32::new(0.0, 0.0); RINGS * ANGLES];
    for r in 0..RINGS {
        let rad_um = INNER_UM + (OUTER_UM - INNER_UM) * r as f64 / (RINGS - 1) as f64;
        let rad = rad_um / surface.pixel_um;
        for a in 0..ANGLES {
            let t = std::f64::consts::TAU * a as f64 / ANGLES as f64;
            let v = smooth.sample(cx + rad * t.cos(), cy + rad * t.sin());
            if v.is_finite() {
                out[r * ANGLES + a] = Complex32::new(v, 0.0);
            }
        }
    }
    out
}

fn smooth_surface(s: &Surface, sigma_px: f64) -> Surface {
    let g = crate::preprocess::Grid {
        nx: s.nx,
        ny: s.ny,
        z: s.z.iter().map(|&v| f64::from(v)).collect(),
    };
    let z = crate::preprocess::gaussian_nan(&g, sigma_px);
    Surface {
        z: z.iter().map(|&v| v as f32).collect(),
        ..s.clone()
    }
}

/// Angular FFT of each polar ring (RINGS x ANGLES, ring-major).
pub(crate) fn ring_spectra(surface: &Surface) -> Vec<Complex32> {
    let mut rings = polar(surface);
    let fft: Arc<dyn rustfft::Fft<f32>> = FftPlanner::new().plan_fft_forward(ANGLES);
    for ring in rings.chunks_exact_mut(ANGLES) {
        fft.process(ring);
    }
    rings
}

/// Portable int8 dot product (LLVM vectorises the widening multiply-add).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// AVX2 kernel: `maddubs(|a|, sign(b, a))` multiplies 32 byte pairs into 16 i16 pair sums
/// (no saturation: digest values are clamped to ±127, so a pair sum is at most 32258), then
/// `madd` with ones widens to i32. Four rows share each load of the probe.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)] // unaligned SIMD loads: the one hot loop of screening, bounds checked
fn dot_rows_avx2(probe: &[i8], data: &[i8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let d = DIGEST_DIMS;
    let hsum = |v: __m256i| -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b0100_1110>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b1011_0001>(s));
        _mm_cvtsi128_si32(s)
    };
    let rows = out.len().min(data.len() / d);
    if probe.len() < d {
        return;
    }
    let ones = _mm256_set1_epi16(1);
    let mut r = 0;
    while r < rows {
        let take = (rows - r).min(4);
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut off = 0;
        while off + 32 <= d {
            // SAFETY: off + 32 <= d <= probe.len(); rows r..r+take lie inside data because
            // rows <= data.len() / d.
            let p = unsafe { _mm256_loadu_si256(probe.as_ptr().add(off).cast()) };
            let pa = _mm256_abs_epi8(p);
            for (t, a) in acc.iter_mut().enumerate().take(take) {
                let row =
                    unsafe { _mm256_loadu_si256(data.as_ptr().add((r + t) * d + off).cast()) };
                let prod = _mm256_maddubs_epi16(pa, _mm256_sign_epi8(row, p));
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(prod, ones));
            }
            off += 32;
        }
        for (t, a) in acc.iter().enumerate().take(take) {
            if let Some(o) = out.get_mut(r + t) {
                *o = hsum(*a);
            }
        }
        r += take;
    }
}

fn dot_rows_generic(probe: &[i8], data: &[i8], out: &mut [i32]) {
    for (row, o) in data.chunks_exact(DIGEST_DIMS).zip(out.iter_mut()) {
        *o = dot_i8(probe, row);
    }
}

/// Dot products of `probe` with each packed row of `data`, with AVX2 when the CPU has it.
#[allow(unsafe_code)] // calls the AVX2 kernel after checking the CPU has AVX2
fn dot_rows(probe: &[i8], data: &[i8], out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked at run time just above).
            unsafe { dot_rows_avx2(probe, data, out) };
            return;
        }
    }
    dot_rows_generic(probe, data, out);
}

/// Rows from which a search is split across threads (below, a thread costs more than it
/// saves).
const PARALLEL_ROWS: usize = 8_192;

/// Flat index of digests in one contiguous int8 buffer (row = [`DIGEST_DIMS`] bytes), scanned
/// linearly: exact, and at these sizes faster than any graph index (notes section 6).
#[derive(Debug, Default, Clone)]
pub struct DigestIndex {
    ids: Vec<u64>,
    inv_norms: Vec<f32>,
    data: Vec<i8>,
}

impl DigestIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty index with room for `n` digests.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            inv_norms: Vec::with_capacity(n),
            data: Vec::with_capacity(n * DIGEST_DIMS),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bytes of digest data scanned per search.
    pub fn scanned_bytes(&self) -> usize {
        self.data.len()
    }

    pub fn push(&mut self, id: u64, d: &Digest) {
        self.ids.push(id);
        self.inv_norms.push(d.inv_norm);
        self.data.extend_from_slice(&d.q);
    }

    /// Keeps only the digests whose id satisfies `keep`, compacting the buffer in place
    /// (for retractions; O(n), so callers batch them).
    pub fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        let mut w = 0;
        for r in 0..self.ids.len() {
            if !keep(self.ids[r]) {
                continue;
            }
            if w != r {
                self.ids[w] = self.ids[r];
                self.inv_norms[w] = self.inv_norms[r];
                self.data
                    .copy_within(r * DIGEST_DIMS..(r + 1) * DIGEST_DIMS, w * DIGEST_DIMS);
            }
            w += 1;
        }
        self.ids.truncate(w);
        self.inv_norms.truncate(w);
        self.data.truncate(w * DIGEST_DIMS);
    }

    /// The `k` most similar digests, best first, as (id, screen score). Large indexes are
    /// scanned on every core (a multi-centre probe makes the scan compute-bound), each
    /// thread over a contiguous share of the rows, and the per-thread lists merged.
    pub fn search(&self, probe: &Digest, k: usize) -> Vec<(u64, f32)> {
        let rows = self.ids.len();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || rows < PARALLEL_ROWS {
            return self.search_rows(probe, k, 0..rows);
        }
        let share = rows.div_ceil(threads);
        let mut top: Vec<(u64, f32)> = std::thread::scope(|scope| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * share).min(rows)..((t + 1) * share).min(rows);
                    scope.spawn(move || self.search_rows(probe, k, range))
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|part| part.join().unwrap_or_default())
                .collect()
        });
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.truncate(k);
        top
    }

    /// [`DigestIndex::search`] over the rows `range` only.
    fn search_rows(
        &self,
        probe: &Digest,
        k: usize,
        range: std::ops::Range<usize>,
    ) -> Vec<(u64, f32)> {
        if k == 0 || range.is_empty() {
            return Vec::new();
        }
        let first = range.start;
        let data = self
            .data
            .get(range.start * DIGEST_DIMS..range.end * DIGEST_DIMS)
            .unwrap_or_default();
        // Blocks of rows keep the dot products in L1 and let the top-k pass run on a
        // small buffer.
        // With several probe views, each block (64 rows, 252 KB) stays in L2 while every
        // view is scanned over it; each row's score is its best view.
        const BLOCK: usize = 64;
        let mut dots = [0i32; BLOCK];
        let mut best = [f32::NEG_INFINITY; BLOCK];
        let mut top: Vec<(f32, u64)> = Vec::with_capacity(k + 1);
        let mut floor = f32::NEG_INFINITY;
        for (b, chunk) in data.chunks(BLOCK * DIGEST_DIMS).enumerate() {
            let rows = chunk.len() / DIGEST_DIMS;
            let dots = &mut dots[..rows];
            let best = &mut best[..rows];
            best.fill(f32::NEG_INFINITY);
            for (q, inv_norm) in probe.probe_rows() {
                dot_rows(q, chunk, dots);
                for (m, &d) in best.iter_mut().zip(dots.iter()) {
                    *m = m.max(d as f32 * inv_norm);
                }
            }
            for (i, &m) in best.iter().enumerate() {
                let idx = first + b * BLOCK + i;
                let s = m * self.inv_norms.get(idx).copied().unwrap_or(0.0);
                if top.len() < k || s > floor {
                    insert_top(&mut top, (s, self.ids.get(idx).copied().unwrap_or(0)), k);
                    if top.len() == k {
                        floor = top.last().map_or(f32::NEG_INFINITY, |t| t.0);
                    }
                }
            }
        }
        top.into_iter().map(|(s, id)| (id, s)).collect()
    }
}

/// Insert into a list sorted by descending score, keeping at most `k`.
fn insert_top(top: &mut Vec<(f32, u64)>, item: (f32, u64), k: usize) {
    let pos = top.partition_point(|t| t.0 >= item.0);
    top.insert(pos, item);
    top.truncate(k);
}

/// A random digest (for benchmarks and index tests), deterministic from `seed`.
pub fn random_digest(seed: u64) -> Digest {
    let mut rng = crate::synthetic::SplitMix(seed);
    let f: Vec<f32> = (0..DIGEST_DIMS).map(|_| rng.normal() as f32).collect();
    Digest::from_features(&f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_split_across_threads_finds_what_one_thread_finds() {
        let mut index = DigestIndex::with_capacity(PARALLEL_ROWS * 2);
        for i in 0..(PARALLEL_ROWS * 2 + 13) as u64 {
            index.push(i, &random_digest(i % 997));
        }
        let probe = random_digest(5);
        let whole = index.search_rows(&probe, 25, 0..index.len());
        assert_eq!(index.search(&probe, 25), whole);
        assert_eq!(whole.first().map(|h| h.0 % 997), Some(5));
    }

    #[test]
    fn bytes_roundtrip_and_reject() {
        let d = random_digest(7);
        let b = d.to_bytes();
        assert_eq!(b.len(), DIGEST_BYTES);
        assert_eq!(Digest::from_bytes(&b), Ok(d.clone()));
        assert_eq!(
            Digest::from_bytes(&b[1..]),
            Err(DigestError::Length(DIGEST_BYTES - 1))
        );
        let mut bad = b.clone();
        bad[0] = b'X';
        assert!(matches!(
            Digest::from_bytes(&bad),
            Err(DigestError::Magic(_))
        ));
        assert!((screen_score(&d, &d) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn simd_matches_portable() {
        let rows: Vec<Digest> = (0..7).map(random_digest).collect();
        let data: Vec<i8> = rows.iter().flat_map(|d| d.q.clone()).collect();
        let probe = random_digest(99);
        let mut fast = vec![0; 7];
        let mut slow = vec![0; 7];
        dot_rows(&probe.q, &data, &mut fast);
        dot_rows_generic(&probe.q, &data, &mut slow);
        assert_eq!(fast, slow);
    }

    #[test]
    fn retain_drops_rows_and_keeps_the_rest_searchable() {
        let mut idx = DigestIndex::new();
        for i in 0..300 {
            idx.push(i, &random_digest(i));
        }
        idx.retain(|id| id % 3 != 0);
        assert_eq!(idx.len(), 200);
        assert_eq!(idx.scanned_bytes(), 200 * DIGEST_DIMS);
        assert_ne!(idx.search(&random_digest(99), 1)[0].0, 99);
        let hit = idx.search(&random_digest(100), 1)[0];
        assert_eq!(hit.0, 100);
        assert!((hit.1 - 1.0).abs() < 1e-4);
    }

    #[test]
    fn index_search_finds_exact_and_orders() {
        let mut idx = DigestIndex::new();
        for i in 0..1000 {
            idx.push(i, &random_digest(i));
        }
        let probe = random_digest(321);
        let hits = idx.search(&probe, 5);
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].0, 321);
        assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1));
        let brute = screen_score(&probe, &random_digest(hits[1].0));
        assert!((brute - hits[1].1).abs() < 1e-5);
    }
}
