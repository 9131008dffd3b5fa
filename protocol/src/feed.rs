//! Feed entries: each member publishes one append-only, hash-chained feed of signed entries
//! `(origin, seq, prev, timestamp, body)`. Any member can hold and re-serve any other member's
//! entries, because the signature travels with them.

use bincode::{Decode, Encode};
use ed25519_dalek::Signature;

use crate::{
    analysis::{Aggregate, AggregateError},
    ballistic::{
        BallisticDigest, BallisticDigestError, ExhibitRef, MAX_BALLISTIC_DIGESTS_PER_ENTRY,
    },
    codec::{self, CodecError, MAX_ENTRY_BYTES},
    firearm::{
        FirearmDigest, MAX_DIGESTS_PER_ENTRY, MAX_REFERENCE_ADDITION_BYTES,
        MAX_RETRACTIONS_PER_ENTRY, RecordRef,
    },
    identity::{BureauId, IdentityError, NetworkId, Signer, signing_message},
    notice::NoticeOp,
    time::MAX_TIME_MS,
};

pub use crate::entry_id::EntryId;

/// Domain tag of entry signatures.
const ENTRY_DOMAIN: &[u8] = b"striae-entry-v1:";
/// Version byte carried in every entry, bumped when the entry layout changes.
pub const ENTRY_VERSION: u8 = 1;

/// What an entry says. New kinds are appended at the end so older encodings stay valid.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Body {
    /// A notice is issued, updated or cancelled.
    Notice(NoticeOp),
    /// Digests of firearm records the origin holds (new records, or a changed status).
    FirearmDigests(Vec<FirearmDigest>),
    /// Records the origin no longer announces (recovered, closed): their digests are void.
    FirearmRetractions(Vec<RecordRef>),
    /// An addition to the shared reference table, as the JSON form of the firearms library's
    /// `ReferenceAddition` (e.g. `{"kind":"alias","target_id":"make:glock","alias":".."}`).
    ReferenceAddition(String),
    /// Screening digests of ballistic exhibits the origin holds.
    BallisticDigests(Vec<BallisticDigest>),
    /// Exhibits the origin no longer offers for comparison.
    BallisticRetractions(Vec<ExhibitRef>),
    /// The head of the origin's audit log. Every member keeps it in the origin's feed, out of
    /// reach of whoever can edit the origin's disk: a log cut back below an anchor, or
    /// rewritten before it, no longer matches.
    AuditAnchor(AuditAnchor),
    /// The origin's aggregate statistics for one month (`analysis::Aggregate`); a later one
    /// for the same month replaces the earlier.
    Aggregate(Aggregate),
}

/// Where the origin's audit log stood when it was anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AuditAnchor {
    /// Records in the log (the seq of the last).
    pub records: u64,
    /// Hash of the last stored record (BLAKE3 of its signature and JSON).
    pub last_hash: [u8; 32],
}

impl Body {
    /// A short name for logs and metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Body::Notice(_) => "notice",
            Body::FirearmDigests(_) => "firearm_digests",
            Body::FirearmRetractions(_) => "firearm_retractions",
            Body::ReferenceAddition(_) => "reference_addition",
            Body::BallisticDigests(_) => "ballistic_digests",
            Body::BallisticRetractions(_) => "ballistic_retractions",
            Body::AuditAnchor(_) => "audit_anchor",
            Body::Aggregate(_) => "aggregate",
        }
    }

    /// Checks the bounds every body must keep, whoever wrote it.
    pub fn check(&self) -> Result<(), BodyError> {
        match self {
            Body::Notice(_) => Ok(()),
            Body::FirearmDigests(list) if list.is_empty() || list.len() > MAX_DIGESTS_PER_ENTRY => {
                Err(BodyError::FirearmDigestBatch)
            }
            Body::FirearmRetractions(list)
                if list.is_empty() || list.len() > MAX_RETRACTIONS_PER_ENTRY =>
            {
                Err(BodyError::FirearmRetractionBatch)
            }
            Body::ReferenceAddition(json)
                if json.is_empty() || json.len() > MAX_REFERENCE_ADDITION_BYTES =>
            {
                Err(BodyError::ReferenceAdditionSize)
            }
            Body::BallisticDigests(list)
                if list.is_empty() || list.len() > MAX_BALLISTIC_DIGESTS_PER_ENTRY =>
            {
                Err(BodyError::BallisticDigestBatch)
            }
            Body::BallisticDigests(list) => list
                .iter()
                .try_for_each(BallisticDigest::check)
                .map_err(BodyError::from),
            Body::BallisticRetractions(list)
                if list.is_empty() || list.len() > MAX_RETRACTIONS_PER_ENTRY =>
            {
                Err(BodyError::BallisticRetractionBatch)
            }
            Body::Aggregate(aggregate) => aggregate.check().map_err(BodyError::from),
            _ => Ok(()),
        }
    }
}

/// A body that breaks the bounds of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// A firearm digest batch is empty or holds more than `MAX_DIGESTS_PER_ENTRY` digests.
    #[error("firearm digest batch empty or too large")]
    FirearmDigestBatch,
    /// A firearm retraction batch is empty or holds more than `MAX_RETRACTIONS_PER_ENTRY`
    /// references.
    #[error("firearm retraction batch empty or too large")]
    FirearmRetractionBatch,
    /// A reference addition is empty or longer than `MAX_REFERENCE_ADDITION_BYTES`.
    #[error("reference addition empty or too large")]
    ReferenceAdditionSize,
    /// A ballistic digest batch is empty or holds more than
    /// `MAX_BALLISTIC_DIGESTS_PER_ENTRY` digests.
    #[error("ballistic digest batch empty or too large")]
    BallisticDigestBatch,
    /// One digest of a ballistic digest batch breaks its own bounds.
    #[error(transparent)]
    BallisticDigest(#[from] BallisticDigestError),
    /// A ballistic retraction batch is empty or holds more than `MAX_RETRACTIONS_PER_ENTRY`
    /// references.
    #[error("ballistic retraction batch empty or too large")]
    BallisticRetractionBatch,
    /// An aggregate breaks its bounds or its own threshold.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
}

/// One feed entry, unsigned.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Entry {
    /// Layout version, `ENTRY_VERSION`.
    pub version: u8,
    /// The member whose feed this is, and whose key signs it.
    pub origin: BureauId,
    /// Position in the origin's feed: 1, 2, 3, ...
    pub seq: u64,
    /// Id of entry `seq - 1`, or `EntryId::GENESIS` for seq 1.
    pub prev: EntryId,
    /// When the origin wrote it, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The content.
    pub body: Body,
}

/// An entry as it travels and is stored: its canonical bytes and the origin's signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WireEntry {
    /// `codec::encode(&Entry)`.
    pub entry_bytes: Vec<u8>,
    /// Ed25519 signature by `origin` over `ENTRY_DOMAIN || network || entry_bytes`.
    pub signature: [u8; 64],
}

/// Why an entry was refused.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The bytes are not a canonical entry.
    #[error("malformed entry: {0}")]
    Malformed(#[from] CodecError),
    /// The entry has a layout version this node does not know.
    #[error("unsupported entry version {0}")]
    UnsupportedVersion(u8),
    /// Seq 0 does not exist.
    #[error("entry seq must start at 1")]
    ZeroSeq,
    /// The first entry of a feed must point at the genesis id.
    #[error("entry seq 1 must have the genesis prev")]
    BadGenesis,
    /// The signature does not verify against the origin's key.
    #[error("bad signature on entry {origin} #{seq}")]
    BadSignature {
        /// The claimed origin.
        origin: BureauId,
        /// The claimed seq.
        seq: u64,
    },
    /// The origin's key is unusable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The body breaks the bounds of its kind.
    #[error("bad entry body: {0}")]
    BadBody(#[source] BodyError),
    /// The entry is stamped after the last instant a timestamp can write (`MAX_TIME_MS`).
    #[error("entry timestamp {0} ms is after the year 9999")]
    TimestampOutOfRange(u64),
}

/// A decoded entry whose signature has not been checked yet.
#[derive(Clone, Debug)]
pub struct UnverifiedEntry {
    /// The decoded entry.
    pub entry: Entry,
    /// Its id.
    pub id: EntryId,
    wire: WireEntry,
    /// The canonical bytes of `wire`, when they arrived as bytes (saves re-encoding).
    wire_bytes: Option<Vec<u8>>,
}

/// An entry whose encoding, shape and signature have been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// The decoded entry.
    pub entry: Entry,
    /// Its id.
    pub id: EntryId,
    /// The canonical encoding of the `WireEntry`, exactly as stored and re-served.
    pub wire: Vec<u8>,
}

impl Entry {
    /// Signs this entry for `network`. The signer must be the origin.
    pub fn sign(self, signer: &Signer, network: &NetworkId) -> Result<VerifiedEntry, EntryError> {
        let entry_bytes = codec::encode(&self, MAX_ENTRY_BYTES)?;
        let signature = signer.sign(&signing_message(ENTRY_DOMAIN, network, &entry_bytes));
        let id = EntryId::of_entry_bytes(&entry_bytes);
        let wire = codec::encode(
            &WireEntry {
                entry_bytes,
                signature,
            },
            MAX_ENTRY_BYTES + 128,
        )?;
        Ok(VerifiedEntry {
            entry: self,
            id,
            wire,
        })
    }

    fn check_shape(&self) -> Result<(), EntryError> {
        if self.version != ENTRY_VERSION {
            return Err(EntryError::UnsupportedVersion(self.version));
        }
        if self.seq == 0 {
            return Err(EntryError::ZeroSeq);
        }
        if self.seq == 1 && self.prev != EntryId::GENESIS {
            return Err(EntryError::BadGenesis);
        }
        if self.timestamp_ms > MAX_TIME_MS {
            return Err(EntryError::TimestampOutOfRange(self.timestamp_ms));
        }
        self.body.check().map_err(EntryError::BadBody)
    }
}

impl UnverifiedEntry {
    /// Decodes the canonical bytes of a `WireEntry` and checks the entry's shape.
    pub fn decode(wire_bytes: &[u8]) -> Result<Self, EntryError> {
        Self::decode_owned(wire_bytes.to_vec())
    }

    /// Like `decode`, keeping the bytes as the stored form.
    pub fn decode_owned(wire_bytes: Vec<u8>) -> Result<Self, EntryError> {
        let wire: WireEntry = codec::decode(&wire_bytes, MAX_ENTRY_BYTES + 128)?;
        let mut entry = Self::from_wire(wire)?;
        entry.wire_bytes = Some(wire_bytes);
        Ok(entry)
    }

    /// Decodes an already split `WireEntry`.
    pub fn from_wire(wire: WireEntry) -> Result<Self, EntryError> {
        let entry: Entry = codec::decode(&wire.entry_bytes, MAX_ENTRY_BYTES)?;
        entry.check_shape()?;
        let id = EntryId::of_entry_bytes(&wire.entry_bytes);
        Ok(UnverifiedEntry {
            entry,
            id,
            wire,
            wire_bytes: None,
        })
    }

    /// The exact bytes the origin signed.
    fn message(&self, network: &NetworkId) -> Vec<u8> {
        signing_message(ENTRY_DOMAIN, network, &self.wire.entry_bytes)
    }

    fn into_verified(self) -> Result<VerifiedEntry, EntryError> {
        let wire = match self.wire_bytes {
            Some(bytes) => bytes,
            None => codec::encode(&self.wire, MAX_ENTRY_BYTES + 128)?,
        };
        Ok(VerifiedEntry {
            entry: self.entry,
            id: self.id,
            wire,
        })
    }

    /// Checks the signature against the origin's key.
    pub fn verify(self, network: &NetworkId) -> Result<VerifiedEntry, EntryError> {
        let message = self.message(network);
        self.entry
            .origin
            .verify(&message, &self.wire.signature)
            .map_err(|_| EntryError::BadSignature {
                origin: self.entry.origin,
                seq: self.entry.seq,
            })?;
        self.into_verified()
    }
}

/// Verifies many entries at once with ed25519 batch verification (about twice as fast as one
/// by one), falling back to one-by-one checks to find the culprit when the batch fails.
/// Results are in input order.
pub fn verify_batch(
    entries: Vec<UnverifiedEntry>,
    network: &NetworkId,
) -> Vec<Result<VerifiedEntry, EntryError>> {
    if entries.len() < 4 || !batch_signatures_valid(&entries, network) {
        return entries.into_iter().map(|e| e.verify(network)).collect();
    }
    entries.into_iter().map(|e| e.into_verified()).collect()
}

fn batch_signatures_valid(entries: &[UnverifiedEntry], network: &NetworkId) -> bool {
    // Decompressing a key costs about as much as a verification: do it once per origin.
    let mut known: Vec<(BureauId, ed25519_dalek::VerifyingKey)> = Vec::new();
    let mut keys = Vec::with_capacity(entries.len());
    for e in entries {
        let origin = e.entry.origin;
        if let Some((_, key)) = known.iter().find(|(o, _)| *o == origin) {
            keys.push(*key);
            continue;
        }
        match origin.verifying_key() {
            // Batch verification skips the weak-key check that `verify_strict` makes.
            Ok(key) if !key.is_weak() => {
                known.push((origin, key));
                keys.push(key);
            }
            _ => return false,
        }
    }
    if entries.iter().any(|e| small_order_r(&e.wire.signature)) {
        return false;
    }
    let messages: Vec<Vec<u8>> = entries.iter().map(|e| e.message(network)).collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let signatures: Vec<Signature> = entries
        .iter()
        .map(|e| Signature::from_bytes(&e.wire.signature))
        .collect();
    ed25519_dalek::verify_batch(&message_refs, &signatures, &keys).is_ok()
}

/// Whether a signature's `R` is a point of small order (or not a point at all), which
/// `verify_strict` refuses and plain batch verification would accept.
fn small_order_r(signature: &[u8; 64]) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    curve25519_dalek::edwards::CompressedEdwardsY(r)
        .decompress()
        .is_none_or(|point| point.is_small_order())
}

impl VerifiedEntry {
    /// Re-reads an entry from storage; its encoding and signature were checked when it was
    /// stored.
    pub fn from_stored(wire_bytes: Vec<u8>) -> Result<Self, EntryError> {
        let wire: WireEntry = codec::decode_stored(&wire_bytes, MAX_ENTRY_BYTES + 128)?;
        let entry: Entry = codec::decode_stored(&wire.entry_bytes, MAX_ENTRY_BYTES)?;
        let id = EntryId::of_entry_bytes(&wire.entry_bytes);
        Ok(VerifiedEntry {
            entry,
            id,
            wire: wire_bytes,
        })
    }

    /// The signed wire form.
    pub fn wire_entry(&self) -> Result<WireEntry, EntryError> {
        Ok(codec::decode(&self.wire, MAX_ENTRY_BYTES + 128)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::{NoticeContent, NoticeKind};

    fn sample_entry(signer: &Signer, seq: u64, prev: EntryId) -> Entry {
        Entry {
            version: ENTRY_VERSION,
            origin: signer.bureau(),
            seq,
            prev,
            timestamp_ms: 1_700_000_000_000,
            body: Body::Notice(NoticeOp::Issue(NoticeContent {
                kind: NoticeKind::Orange,
                title: "Pistols disguised as phones".into(),
                summary: "Folding pistols shaped like smartphones".into(),
                body: String::new(),
                expires_at_ms: 1_800_000_000_000,
            })),
        }
    }

    fn net() -> NetworkId {
        NetworkId::from_name("test")
    }

    #[test]
    fn an_entry_stamped_after_the_year_9999_does_not_decode() {
        let signer = Signer::from_seed([3; 32]);
        let mut last = sample_entry(&signer, 1, EntryId::GENESIS);
        last.timestamp_ms = MAX_TIME_MS;
        let mut later = last.clone();
        later.timestamp_ms = MAX_TIME_MS + 1;
        let last = last.sign(&signer, &net()).expect("test fixture");
        let later = later.sign(&signer, &net()).expect("test fixture");
        assert!(UnverifiedEntry::decode(&last.wire).is_ok());
        assert!(matches!(
            UnverifiedEntry::decode(&later.wire),
            Err(EntryError::TimestampOutOfRange(t)) if t == MAX_TIME_MS + 1
        ));
    }

    #[test]
    fn signed_entry_verifies_after_round_trip() {
        let signer = Signer::from_seed([3; 32]);
        let signed = sample_entry(&signer, 1, EntryId::GENESIS)
            .sign(&signer, &net())
            .expect("test fixture");
        let back = UnverifiedEntry::decode(&signed.wire)
            .expect("test fixture")
            .verify(&net())
            .expect("test fixture");
        assert_eq!(back, signed);
    }

    #[test]
    fn entry_signed_by_someone_else_is_refused() {
        let origin = Signer::from_seed([3; 32]);
        let forger = Signer::from_seed([4; 32]);
        let signed = sample_entry(&origin, 1, EntryId::GENESIS)
            .sign(&forger, &net())
            .expect("test fixture");
        let result = UnverifiedEntry::decode(&signed.wire)
            .expect("test fixture")
            .verify(&net());
        assert!(matches!(result, Err(EntryError::BadSignature { .. })));
    }

    #[test]
    fn entry_from_another_network_is_refused() {
        let signer = Signer::from_seed([3; 32]);
        let signed = sample_entry(&signer, 1, EntryId::GENESIS)
            .sign(&signer, &NetworkId::from_name("other"))
            .expect("test fixture");
        assert!(
            UnverifiedEntry::decode(&signed.wire)
                .expect("test fixture")
                .verify(&net())
                .is_err()
        );
    }

    #[test]
    fn batch_verification_finds_the_one_bad_entry() {
        let signer = Signer::from_seed([5; 32]);
        let forger = Signer::from_seed([6; 32]);
        let mut wires = Vec::new();
        for seq in 1..=10u64 {
            let key = if seq == 7 { &forger } else { &signer };
            let entry = sample_entry(&signer, seq, EntryId([seq as u8; 32]));
            let entry = Entry {
                prev: if seq == 1 {
                    EntryId::GENESIS
                } else {
                    entry.prev
                },
                ..entry
            };
            wires.push(entry.sign(key, &net()).expect("test fixture").wire);
        }
        let unverified = wires
            .iter()
            .map(|w| UnverifiedEntry::decode(w).expect("test fixture"))
            .collect();
        let results = verify_batch(unverified, &net());
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i != 6, "entry {}", i + 1);
        }
    }

    /// A signature whose `R` is the identity point, made with the origin's secret scalar:
    /// `sB = kA` holds, so a check that skips the small-order test accepts it.
    fn small_order_signature(seed: [u8; 32], message: &[u8]) -> [u8; 64] {
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let mut r = [0u8; 32];
        r[0] = 1; // the identity, compressed
        let mut hash = Sha512::new();
        hash.update(r);
        hash.update(key.verifying_key().as_bytes());
        hash.update(message);
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&hash.finalize());
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        let s = k * key.to_scalar();
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    #[test]
    fn pages_refuse_the_small_order_signatures_single_entries_refuse() {
        let seed = [5; 32];
        let signer = Signer::from_seed(seed);
        let mut wires = Vec::new();
        let mut prev = EntryId::GENESIS;
        for seq in 1..=6u64 {
            let signed = sample_entry(&signer, seq, prev)
                .sign(&signer, &net())
                .expect("test fixture");
            prev = signed.id;
            wires.push(signed.wire);
        }
        let mut unverified: Vec<UnverifiedEntry> = wires
            .iter()
            .map(|w| UnverifiedEntry::decode(w).expect("test fixture"))
            .collect();
        let message = unverified[2].message(&net());
        let forged = small_order_signature(seed, &message);
        unverified[2].wire.signature = forged;
        let mut alone = UnverifiedEntry::decode(&wires[2]).expect("test fixture");
        alone.wire.signature = forged;
        assert!(alone.verify(&net()).is_err(), "verify_strict refuses it");
        let results = verify_batch(unverified, &net());
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i != 2, "entry {}", i + 1);
        }
    }

    #[test]
    fn bad_bodies_keep_their_texts_and_sources() {
        use crate::ballistic::EvidenceKind;

        assert_eq!(
            Body::FirearmDigests(Vec::new())
                .check()
                .unwrap_err()
                .to_string(),
            "firearm digest batch empty or too large"
        );
        let digest = BallisticDigest {
            exhibit_ref: RecordRef([1; 16]),
            kind: EvidenceKind::CartridgeCase,
            caliber_class: String::new(),
            digest: vec![1],
        };
        let err = Body::BallisticDigests(vec![digest]).check().unwrap_err();
        assert_eq!(
            err,
            BodyError::BallisticDigest(BallisticDigestError::CaliberClass)
        );
        assert_eq!(err.to_string(), "caliber class empty or too long");

        let signer = Signer::from_seed([3; 32]);
        let mut entry = sample_entry(&signer, 1, EntryId::GENESIS);
        entry.body = Body::ReferenceAddition(String::new());
        let signed = entry.sign(&signer, &net()).expect("test fixture");
        let err = UnverifiedEntry::decode(&signed.wire).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad entry body: reference addition empty or too large"
        );
        let source = std::error::Error::source(&err).expect("the body error");
        assert_eq!(source.to_string(), "reference addition empty or too large");
    }

    #[test]
    fn an_entry_with_a_malformed_or_oversized_aggregate_does_not_decode() {
        use crate::analysis::{Count, MAX_AGGREGATE_COUNTS, Period};
        let signer = Signer::from_seed([3; 32]);
        let count = |value| Count {
            metric: "records.status".into(),
            key: "stolen".into(),
            value,
        };
        let aggregate = |counts| {
            Body::Aggregate(Aggregate {
                period: Period::new(2026, 11).expect("a month"),
                min_count: 5,
                counts,
                routes: Vec::new(),
            })
        };
        let decode = |body| {
            let mut entry = sample_entry(&signer, 1, EntryId::GENESIS);
            entry.body = body;
            let signed = entry.sign(&signer, &net()).expect("test fixture");
            UnverifiedEntry::decode(&signed.wire)
        };
        let good = decode(aggregate(vec![count(5)])).expect("a sound aggregate decodes");
        assert_eq!(good.entry.body.kind_name(), "aggregate");
        // A figure below the threshold the member states could single out one case.
        let err = decode(aggregate(vec![count(1)])).unwrap_err();
        assert!(err.to_string().contains("counts[0].value"), "{err}");
        let err = decode(aggregate(vec![count(9); MAX_AGGREGATE_COUNTS + 1])).unwrap_err();
        assert!(err.to_string().contains("aggregate.counts"), "{err}");
    }

    #[test]
    fn shape_rules_hold() {
        let signer = Signer::from_seed([3; 32]);
        let zero = sample_entry(&signer, 0, EntryId::GENESIS)
            .sign(&signer, &net())
            .expect("test fixture");
        assert!(matches!(
            UnverifiedEntry::decode(&zero.wire),
            Err(EntryError::ZeroSeq)
        ));
        let bad_genesis = sample_entry(&signer, 1, EntryId([9; 32]))
            .sign(&signer, &net())
            .expect("test fixture");
        assert!(matches!(
            UnverifiedEntry::decode(&bad_genesis.wire),
            Err(EntryError::BadGenesis)
        ));
    }
}
