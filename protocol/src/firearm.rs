//! Firearm digests and their retraction, and reference-table additions, as members publish
//! them in their feeds. A digest is a keyed hash (a key derived from the network's pre-shared
//! key, so only members can compute or test one) of a record's normalised make and serial,
//! plus a second over a confusable folding of the serial, the record's status and an opaque
//! reference to the record at its holder: enough to answer "does anyone hold this gun?"
//! locally, and nothing more.

use std::fmt;

use bincode::{Decode, Encode};

/// Most digests one feed entry carries (about 520 KB encoded, under `MAX_ENTRY_BYTES`).
pub const MAX_DIGESTS_PER_ENTRY: usize = 10_000;
/// Most retractions one feed entry carries.
pub const MAX_RETRACTIONS_PER_ENTRY: usize = 20_000;
/// Largest reference addition (JSON text) one entry carries.
pub const MAX_REFERENCE_ADDITION_BYTES: usize = 16 * 1024;

/// An opaque, random reference to a record at its holder: it names the record in traces
/// without saying anything about it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Default)]
pub struct RecordRef(pub [u8; 16]);

impl RecordRef {
    /// Lower-case hex (32 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 32 hex characters.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(text.trim(), &mut out).ok()?;
        Some(RecordRef(out))
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordRef({})", self.to_hex())
    }
}

impl serde::Serialize for RecordRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for RecordRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        RecordRef::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 32 hex characters"))
    }
}

/// The status a digest announces (the record's status when it was published).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum DigestStatus {
    /// Taken from its lawful holder.
    Stolen,
    /// Missing without evidence of theft.
    Lost,
    /// Moved in breach of law or embargo.
    Trafficked,
    /// Moved across a border concealed from customs.
    Smuggled,
    /// In police custody, submitted for tracing.
    Seized,
}

impl DigestStatus {
    /// The API's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestStatus::Stolen => "stolen",
            DigestStatus::Lost => "lost",
            DigestStatus::Trafficked => "trafficked",
            DigestStatus::Smuggled => "smuggled",
            DigestStatus::Seized => "seized",
        }
    }

    /// From the API's name; `None` for statuses that are not published (recovered, closed).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "stolen" => DigestStatus::Stolen,
            "lost" => DigestStatus::Lost,
            "trafficked" => DigestStatus::Trafficked,
            "smuggled" => DigestStatus::Smuggled,
            "seized" => DigestStatus::Seized,
            _ => return None,
        })
    }
}

/// One record's digest as published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FirearmDigest {
    /// Keyed hash of the canonical make and the normalised serial.
    pub exact: [u8; 16],
    /// Keyed hash of the canonical make and the confusable-folded serial.
    pub confusable: [u8; 16],
    /// The record's status.
    pub status: DigestStatus,
    /// The record at its holder.
    pub record_ref: RecordRef,
}

/// The key firearm digests are computed with, derived from the network's pre-shared key:
/// members share it, outsiders cannot test a serial against published digests.
#[derive(Clone, Copy)]
pub struct DigestKey([u8; 32]);

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKey(..)")
    }
}

impl DigestKey {
    /// The network's digest key.
    pub fn from_psk(psk: &[u8; 32]) -> Self {
        DigestKey(blake3::derive_key("striae firearm digest key v1", psk))
    }

    /// Digest of an exact (normalised) serial under a canonical make.
    pub fn exact(&self, make: &str, serial: &str) -> [u8; 16] {
        self.hash(b"exact", make, serial)
    }

    /// Digest of a confusable-folded serial under a canonical make.
    pub fn confusable(&self, make: &str, folded_serial: &str) -> [u8; 16] {
        self.hash(b"confusable", make, folded_serial)
    }

    fn hash(&self, kind: &[u8], make: &str, serial: &str) -> [u8; 16] {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        // Lengths first, so that no two (make, serial) pairs share an input.
        for part in [kind, make.as_bytes(), serial.as_bytes()] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_key_make_serial_and_kind() {
        let k = DigestKey::from_psk(&[1; 32]);
        let other = DigestKey::from_psk(&[2; 32]);
        let d = k.exact("make:glock", "ABC123");
        assert_eq!(d, k.exact("make:glock", "ABC123"));
        assert_ne!(d, other.exact("make:glock", "ABC123"));
        assert_ne!(d, k.exact("make:beretta", "ABC123"));
        assert_ne!(d, k.exact("make:glock", "ABC124"));
        assert_ne!(d, k.confusable("make:glock", "ABC123"));
        // The length prefix keeps boundaries apart.
        assert_ne!(k.exact("ab", "c"), k.exact("a", "bc"));
    }

    #[test]
    fn record_refs_round_trip_as_hex() {
        let r = RecordRef([0xab; 16]);
        assert_eq!(RecordRef::from_hex(&r.to_hex()), Some(r));
        assert_eq!(RecordRef::from_hex("zz"), None);
    }
}
