//! Wire forms of [`Land`] and [`Bullet`]: compact (int16 signatures with a per-land scale),
//! versioned, bounded in size, and validated field by field on decode, because a holder
//! decodes probe bullets sent by other members.

use super::land::{MAX_LAND_SAMPLES, MIN_LAND_WIDTH_UM};
use super::{Bullet, Grooves, Land, MAX_LANDS, MIN_LANDS, SIGNATURE_PITCH_UM};

const LAND_MAGIC: [u8; 4] = *b"SBL1";
const BULLET_MAGIC: [u8; 4] = *b"SBB1";
/// Land header: magic, flags, 3 reserved, 5 × f32 (left, right, crosscut, stability,
/// scale), u32 sample count.
const LAND_HEADER: usize = 4 + 4 + 5 * 4 + 4;
/// Missing sample.
const NAN_CODE: i16 = i16::MIN;
const FLAG_LEFT: u8 = 1;
const FLAG_RIGHT: u8 = 2;
const FLAG_ALONG_X: u8 = 4;

/// Why bytes are not a land, a bullet or a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{got} bytes, expected {expected}")]
    Length { got: usize, expected: usize },
    #[error("{got} bytes, more than the {max} allowed")]
    TooLong { got: usize, max: usize },
    #[error("unknown magic or version")]
    Magic,
    #[error("a bullet has {MIN_LANDS} to {MAX_LANDS} lands, got {0}")]
    LandCount(usize),
    #[error("invalid {0}")]
    Field(&'static str),
    #[error("land {index}: {source}")]
    Land {
        index: usize,
        #[source]
        source: Box<WireError>,
    },
}

impl Land {
    /// Largest [`Land::to_bytes`] output.
    pub const MAX_BYTES: usize = LAND_HEADER + 2 * MAX_LAND_SAMPLES;

    /// Compact versioned bytes (`SBL1`, little-endian): flags, grooves, crosscut, stability,
    /// then the signature as int16 × a per-land scale (`i16::MIN` = missing).
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.signature.len().min(MAX_LAND_SAMPLES);
        let sig = &self.signature[..n];
        let max = sig
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 32767.0 } else { 0.0 };
        let mut out = Vec::with_capacity(LAND_HEADER + 2 * n);
        out.extend_from_slice(&LAND_MAGIC);
        let flags = (u8::from(self.grooves.left_found) * FLAG_LEFT)
            | (u8::from(self.grooves.right_found) * FLAG_RIGHT)
            | (u8::from(self.striae_along_x) * FLAG_ALONG_X);
        out.extend_from_slice(&[flags, 0, 0, 0]);
        for v in [
            self.grooves.left_um,
            self.grooves.right_um,
            self.crosscut_um,
            self.crosscut_stability,
            scale,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for v in sig {
            let q = if v.is_finite() && scale > 0.0 {
                (v / scale).round().clamp(-32767.0, 32767.0) as i16
            } else if v.is_finite() {
                0
            } else {
                NAN_CODE
            };
            out.extend_from_slice(&q.to_le_bytes());
        }
        out
    }

    /// Decode [`Land::to_bytes`] output; every field is checked (sizes, flags, finite and
    /// ordered positions, a land between [`MIN_LAND_WIDTH_UM`] and [`MAX_LAND_SAMPLES`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Land, WireError> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(WireError::TooLong {
                got: bytes.len(),
                max: Self::MAX_BYTES,
            });
        }
        if bytes.len() < LAND_HEADER {
            return Err(WireError::Length {
                got: bytes.len(),
                expected: LAND_HEADER,
            });
        }
        if bytes[..4] != LAND_MAGIC {
            return Err(WireError::Magic);
        }
        let flags = bytes[4];
        if flags & !(FLAG_LEFT | FLAG_RIGHT | FLAG_ALONG_X) != 0 || bytes[5..8] != [0, 0, 0] {
            return Err(WireError::Field("flags"));
        }
        let f = |k: usize| {
            let at = 8 + 4 * k;
            f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let (left, right, crosscut, stability, scale) = (f(0), f(1), f(2), f(3), f(4));
        if ![left, right, crosscut]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0)
            || left >= right
        {
            return Err(WireError::Field("groove or crosscut position"));
        }
        if !(-1.0..=1.0).contains(&stability) {
            return Err(WireError::Field("crosscut stability"));
        }
        if !scale.is_finite() || scale < 0.0 {
            return Err(WireError::Field("scale"));
        }
        let n = u32::from_le_bytes([bytes[28], bytes[29], bytes[30], bytes[31]]) as usize;
        let min = (MIN_LAND_WIDTH_UM / SIGNATURE_PITCH_UM).floor() as usize;
        if !(min..=MAX_LAND_SAMPLES).contains(&n) {
            return Err(WireError::Field("signature length"));
        }
        if bytes.len() != LAND_HEADER + 2 * n {
            return Err(WireError::Length {
                got: bytes.len(),
                expected: LAND_HEADER + 2 * n,
            });
        }
        let signature: Vec<f32> = bytes[LAND_HEADER..]
            .chunks_exact(2)
            .map(|c| match i16::from_le_bytes([c[0], c[1]]) {
                NAN_CODE => f32::NAN,
                q => f32::from(q) * scale,
            })
            .collect();
        if signature.iter().filter(|v| v.is_finite()).count() * 2 < n {
            return Err(WireError::Field("signature (mostly missing)"));
        }
        Ok(Land {
            signature,
            grooves: Grooves {
                left_um: left,
                right_um: right,
                left_found: flags & FLAG_LEFT != 0,
                right_found: flags & FLAG_RIGHT != 0,
            },
            crosscut_um: crosscut,
            striae_along_x: flags & FLAG_ALONG_X != 0,
            crosscut_stability: stability,
        })
    }
}

impl Bullet {
    /// Largest [`Bullet::to_bytes`] output.
    pub const MAX_BYTES: usize = 5 + MAX_LANDS * (4 + Land::MAX_BYTES);

    /// Versioned bytes (`SBB1`): the land count, then each land's length (u32) and bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let lands = &self.lands[..self.lands.len().min(MAX_LANDS)];
        let mut out = Vec::new();
        out.extend_from_slice(&BULLET_MAGIC);
        out.push(lands.len() as u8);
        for land in lands {
            let b = land.to_bytes();
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(&b);
        }
        out
    }

    /// Decode [`Bullet::to_bytes`] output (at most [`Bullet::MAX_BYTES`] bytes, every land
    /// checked by [`Land::from_bytes`], nothing left over).
    pub fn from_bytes(bytes: &[u8]) -> Result<Bullet, WireError> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(WireError::TooLong {
                got: bytes.len(),
                max: Self::MAX_BYTES,
            });
        }
        if bytes.len() < 5 {
            return Err(WireError::Length {
                got: bytes.len(),
                expected: 5,
            });
        }
        if bytes[..4] != BULLET_MAGIC {
            return Err(WireError::Magic);
        }
        let n = usize::from(bytes[4]);
        if !(MIN_LANDS..=MAX_LANDS).contains(&n) {
            return Err(WireError::LandCount(n));
        }
        let mut rest = &bytes[5..];
        let mut lands = Vec::with_capacity(n);
        for index in 0..n {
            let wrap = |e: WireError| WireError::Land {
                index,
                source: Box::new(e),
            };
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(wrap(WireError::Field("land length")));
            };
            let len = u32::from_le_bytes(*len) as usize;
            if len > tail.len() {
                return Err(wrap(WireError::Field("land length")));
            }
            let (land, tail) = tail.split_at(len);
            lands.push(Land::from_bytes(land).map_err(wrap)?);
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(WireError::Field("trailing bytes"));
        }
        Ok(Bullet { lands })
    }
}
