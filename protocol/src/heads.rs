//! Signed heads: a member's statement of the highest contiguous entry it holds from every
//! origin. It drives catch-up (what to pull from whom) and is the receipt: the issuer of entry
//! `s` knows member `m` has it once `m`'s signed heads for that origin reach `s`, so receipts
//! cost one message per member, not one per member per notice.

use bincode::{Decode, Encode};

use crate::{
    codec::{self, CodecError},
    entry_id::EntryId,
    identity::{BureauId, IdentityError, NetworkId, Signer, signing_message},
    time::MAX_TIME_MS,
};

/// Domain tag of heads signatures.
const HEADS_DOMAIN: &[u8] = b"striae-heads-v1:";
/// Most origins one heads statement may list (the roster is at most a few hundred members).
pub const MAX_ORIGINS: usize = 1024;
/// Largest encoded heads statement.
pub const MAX_HEADS_BYTES: usize = 128 * 1024;

/// The highest contiguous entry held from one origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Head {
    /// The feed.
    pub origin: BureauId,
    /// Highest contiguous seq held (entries 1..=seq are all held).
    pub seq: u64,
    /// Id of that entry: two members that disagree on it have seen a fork.
    pub id: EntryId,
}

/// A member's heads at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Heads {
    /// Who states it, and signs it.
    pub member: BureauId,
    /// When, milliseconds since the Unix epoch; a newer statement supersedes an older one.
    pub issued_at_ms: u64,
    /// One per origin, sorted by origin, no duplicates, seq >= 1.
    pub heads: Vec<Head>,
}

/// A heads statement as it travels: canonical bytes and the member's signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedHeads {
    /// `codec::encode(&Heads)`.
    pub heads_bytes: Vec<u8>,
    /// Signature by `member` over `HEADS_DOMAIN || network || heads_bytes`.
    pub signature: [u8; 64],
}

/// Why a heads statement was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeadsError {
    /// Not a canonical encoding.
    #[error("malformed heads: {0}")]
    Malformed(#[from] CodecError),
    /// More origins than allowed, unsorted, duplicated, or a zero seq.
    #[error(
        "heads are not a sorted list of distinct origins with seq >= 1 (at most {MAX_ORIGINS})"
    )]
    BadShape,
    /// The signature does not verify.
    #[error("bad signature on heads: {0}")]
    Signature(#[from] IdentityError),
    /// Issued after the last instant a timestamp can write (`MAX_TIME_MS`).
    #[error("heads issued at {0} ms, after the year 9999")]
    TimestampOutOfRange(u64),
}

impl Heads {
    fn check_shape(&self) -> Result<(), HeadsError> {
        let sorted = self.heads.windows(2).all(|w| w[0].origin < w[1].origin);
        if self.heads.len() > MAX_ORIGINS || !sorted || self.heads.iter().any(|h| h.seq == 0) {
            return Err(HeadsError::BadShape);
        }
        if self.issued_at_ms > MAX_TIME_MS {
            return Err(HeadsError::TimestampOutOfRange(self.issued_at_ms));
        }
        Ok(())
    }

    /// Signs the statement; the signer must be `member`.
    pub fn sign(&self, signer: &Signer, network: &NetworkId) -> Result<SignedHeads, HeadsError> {
        self.check_shape()?;
        let heads_bytes = codec::encode(self, MAX_HEADS_BYTES)?;
        let signature = signer.sign(&signing_message(HEADS_DOMAIN, network, &heads_bytes));
        Ok(SignedHeads {
            heads_bytes,
            signature,
        })
    }

    /// The stated seq for `origin`, 0 when none.
    pub fn seq_of(&self, origin: &BureauId) -> u64 {
        self.heads
            .binary_search_by(|h| h.origin.cmp(origin))
            .ok()
            .and_then(|i| self.heads.get(i))
            .map_or(0, |h| h.seq)
    }
}

impl SignedHeads {
    /// Decodes, checks the shape and verifies the member's signature.
    pub fn verify(&self, network: &NetworkId) -> Result<Heads, HeadsError> {
        let heads: Heads = codec::decode(&self.heads_bytes, MAX_HEADS_BYTES)?;
        heads.check_shape()?;
        heads.member.verify(
            &signing_message(HEADS_DOMAIN, network, &self.heads_bytes),
            &self.signature,
        )?;
        Ok(heads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads_of(signer: &Signer, origins: &[BureauId]) -> Heads {
        let mut heads: Vec<Head> = origins
            .iter()
            .map(|o| Head {
                origin: *o,
                seq: 3,
                id: EntryId([1; 32]),
            })
            .collect();
        heads.sort_by_key(|a| a.origin);
        Heads {
            member: signer.bureau(),
            issued_at_ms: 5,
            heads,
        }
    }

    #[test]
    fn signed_heads_verify_and_answer_lookups() {
        let net = NetworkId::from_name("t");
        let a = Signer::from_seed([1; 32]);
        let b = Signer::from_seed([2; 32]);
        let heads = heads_of(&a, &[a.bureau(), b.bureau()]);
        let signed = heads.sign(&a, &net).expect("test fixture");
        let back = signed.verify(&net).expect("test fixture");
        assert_eq!(back.seq_of(&b.bureau()), 3);
        assert_eq!(back.seq_of(&Signer::from_seed([9; 32]).bureau()), 0);
    }

    #[test]
    fn unsorted_heads_are_refused() {
        let net = NetworkId::from_name("t");
        let a = Signer::from_seed([1; 32]);
        let b = Signer::from_seed([2; 32]);
        let mut heads = heads_of(&a, &[a.bureau(), b.bureau()]);
        heads.heads.reverse();
        assert!(matches!(heads.sign(&a, &net), Err(HeadsError::BadShape)));
    }

    #[test]
    fn tampered_heads_fail() {
        let net = NetworkId::from_name("t");
        let a = Signer::from_seed([1; 32]);
        let mut signed = heads_of(&a, &[a.bureau()])
            .sign(&a, &net)
            .expect("test fixture");
        let last = signed.heads_bytes.len() - 40;
        signed.heads_bytes[last] ^= 1;
        assert!(signed.verify(&net).is_err());
    }
}
