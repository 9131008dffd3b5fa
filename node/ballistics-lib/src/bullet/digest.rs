//! The fixed-size bullet screening digest: every land's signature at a coarser pitch,
//! int8-quantised, compared by best-phase normalised cross-correlation.

use super::wire::WireError;
use super::{Bullet, MAX_LANDS, MIN_LANDS, SIGNATURE_PITCH_UM};

/// Pitch of the digest's land signatures (µm): 5 signature samples averaged. The signature
/// is smoothed over 60 µm, so 7.8 µm sampling keeps its content (wavelengths ≥ 16 µm).
pub const DIGEST_PITCH_UM: f64 = 5.0 * SIGNATURE_PITCH_UM;
/// Samples per land in the digest (3 mm; wider lands keep their central 3 mm).
pub const DIGEST_LAND_SAMPLES: usize = 384;
/// Lands held by a digest (bullets have at most [`MAX_LANDS`]).
pub const DIGEST_MAX_LANDS: usize = MAX_LANDS;
const MAGIC: [u8; 4] = *b"SBG1";
const HEADER: usize = 4 + 2 + 2 * DIGEST_MAX_LANDS;
/// Size of [`BulletDigest::to_bytes`]: magic, land count, reserved byte, per-land lengths
/// (u16) and [`DIGEST_MAX_LANDS`] × [`DIGEST_LAND_SAMPLES`] int8 values.
pub const BULLET_DIGEST_BYTES: usize = HEADER + DIGEST_MAX_LANDS * DIGEST_LAND_SAMPLES;
/// Quantisation: ±4 standard deviations of a land's signature span ±127.
const SDS: f64 = 4.0;
/// Min overlap for the screening lags (the same 75% rule as the full comparison).
const MIN_OVERLAP: f64 = super::align::MIN_OVERLAP;

/// Screening digest of a bullet: per land, the signature at [`DIGEST_PITCH_UM`], centred,
/// scaled to unit standard deviation × 127/4 and rounded to int8, missing points 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulletDigest {
    lands: Vec<Vec<i8>>,
}

impl BulletDigest {
    /// Number of lands.
    pub fn lands(&self) -> usize {
        self.lands.len()
    }

    /// The quantised signature of land `k`.
    pub fn land(&self, k: usize) -> Option<&[i8]> {
        self.lands.get(k).map(Vec::as_slice)
    }

    /// Fixed-size serialisation ([`BULLET_DIGEST_BYTES`] bytes; unused lands and samples 0).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; BULLET_DIGEST_BYTES];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = self.lands.len() as u8;
        for (k, land) in self.lands.iter().enumerate() {
            out[6 + 2 * k..8 + 2 * k].copy_from_slice(&(land.len() as u16).to_le_bytes());
            let at = HEADER + k * DIGEST_LAND_SAMPLES;
            for (o, v) in out[at..at + land.len()].iter_mut().zip(land) {
                *o = *v as u8;
            }
        }
        out
    }

    /// Parse [`BulletDigest::to_bytes`] output, checking every field (exact size, magic,
    /// land count, lengths, unused bytes zero).
    pub fn from_bytes(bytes: &[u8]) -> Result<BulletDigest, WireError> {
        if bytes.len() != BULLET_DIGEST_BYTES {
            return Err(WireError::Length {
                got: bytes.len(),
                expected: BULLET_DIGEST_BYTES,
            });
        }
        if bytes[..4] != MAGIC {
            return Err(WireError::Magic);
        }
        let n = usize::from(bytes[4]);
        if !(MIN_LANDS..=DIGEST_MAX_LANDS).contains(&n) {
            return Err(WireError::LandCount(n));
        }
        if bytes[5] != 0 {
            return Err(WireError::Field("reserved byte"));
        }
        let mut lands = Vec::with_capacity(n);
        for k in 0..DIGEST_MAX_LANDS {
            let len = usize::from(u16::from_le_bytes([bytes[6 + 2 * k], bytes[7 + 2 * k]]));
            let at = HEADER + k * DIGEST_LAND_SAMPLES;
            let slot = &bytes[at..at + DIGEST_LAND_SAMPLES];
            let used = if k < n { len } else { 0 };
            if len > DIGEST_LAND_SAMPLES || (k < n && len == 0) || (k >= n && len != 0) {
                return Err(WireError::Field("land length"));
            }
            if slot[used..].iter().any(|b| *b != 0) || slot[..used].contains(&0x80) {
                return Err(WireError::Field("land values"));
            }
            if k < n {
                lands.push(slot[..used].iter().map(|b| *b as i8).collect());
            }
        }
        Ok(BulletDigest { lands })
    }
}

/// The screening digest of a bullet (lands beyond [`DIGEST_MAX_LANDS`] cannot occur: a
/// [`Bullet`] from [`super::prepare_bullet`] or [`Bullet::from_bytes`] has at most 12).
pub fn bullet_digest(bullet: &Bullet) -> BulletDigest {
    let lands = bullet
        .lands
        .iter()
        .take(DIGEST_MAX_LANDS)
        .map(|land| quantise(&land.signature))
        .collect();
    BulletDigest { lands }
}

fn quantise(sig: &[f32]) -> Vec<i8> {
    let step = (DIGEST_PITCH_UM / SIGNATURE_PITCH_UM).round() as usize;
    let coarse: Vec<f64> = sig
        .chunks(step)
        .map(|c| {
            let (s, n) = c
                .iter()
                .filter(|v| v.is_finite())
                .fold((0.0, 0usize), |(s, n), v| (s + f64::from(*v), n + 1));
            if n * 2 > c.len() {
                s / n as f64
            } else {
                f64::NAN
            }
        })
        .collect();
    let start = coarse.len().saturating_sub(DIGEST_LAND_SAMPLES) / 2;
    let coarse = &coarse[start..coarse.len().min(start + DIGEST_LAND_SAMPLES)];
    let finite: Vec<f64> = coarse.iter().copied().filter(|v| v.is_finite()).collect();
    let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
    let sd = (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / finite.len().max(1) as f64)
        .sqrt();
    let scale = if sd > 0.0 { 127.0 / (SDS * sd) } else { 0.0 };
    coarse
        .iter()
        .map(|v| {
            if v.is_finite() {
                ((v - mean) * scale).round().clamp(-127.0, 127.0) as i8
            } else {
                0
            }
        })
        .collect()
}

/// Screening similarity of two bullets, higher = more similar (about -1..1): for every land
/// pair the largest normalised cross-correlation Σab / √(Σa² Σb²) over the lags where they
/// overlap by ≥ 75% of the shorter (sums over the overlap; missing points count as the
/// mean), then the best-phase mean of those maxima (SAM). 0 when the land counts differ
/// (a class difference: different rifling).
pub fn bullet_screen_score(a: &BulletDigest, b: &BulletDigest) -> f32 {
    let n = a.lands.len();
    if n == 0 || n != b.lands.len() {
        return 0.0;
    }
    let sq = |v: &[i8]| -> Vec<i64> {
        let mut p = vec![0i64; v.len() + 1];
        for (i, x) in v.iter().enumerate() {
            p[i + 1] = p[i] + i64::from(*x) * i64::from(*x);
        }
        p
    };
    let pa: Vec<Vec<i64>> = a.lands.iter().map(|v| sq(v)).collect();
    let pb: Vec<Vec<i64>> = b.lands.iter().map(|v| sq(v)).collect();
    let mut s = vec![0.0f32; n * n];
    for k in 0..n {
        for m in 0..n {
            s[k * n + m] = max_ncc(&a.lands[k], &b.lands[m], &pa[k], &pb[m]);
        }
    }
    (0..n)
        .map(|p| (0..n).map(|k| s[k * n + (k + p) % n]).sum::<f32>() / n as f32)
        .fold(f32::NEG_INFINITY, f32::max)
}

fn max_ncc(a: &[i8], b: &[i8], pa: &[i64], pb: &[i64]) -> f32 {
    let (na, nb) = (a.len() as isize, b.len() as isize);
    if na == 0 || nb == 0 {
        return 0.0;
    }
    let need = ((MIN_OVERLAP * na.min(nb) as f64).ceil() as isize).max(1);
    let mut best = 0.0f32;
    for lag in -(na - 1)..nb {
        let lo = 0.max(-lag);
        let hi = na.min(nb - lag);
        if hi - lo < need {
            continue;
        }
        let (lo, hi) = (lo as usize, hi as usize);
        let (blo, bhi) = ((lo as isize + lag) as usize, (hi as isize + lag) as usize);
        let dot: i32 = a[lo..hi]
            .iter()
            .zip(&b[blo..bhi])
            .map(|(x, y)| i32::from(*x) * i32::from(*y))
            .sum();
        let den = ((pa[hi] - pa[lo]) as f64 * (pb[bhi] - pb[blo]) as f64).sqrt();
        if den > 0.0 {
            best = best.max((f64::from(dot) / den) as f32);
        }
    }
    best
}
