//! Signed point-to-point messages (trace requests and answers, confirmation results): a
//! value's canonical bytes and its signer's ed25519 signature over a domain-separated message
//! bound to the network. The signer is named inside the value, so a verified message proves
//! who said it, wherever it is later shown (audit logs, trace results).
//!
//! Requests (traces, queries, confirmations, pictures, operation messages) end with the acting
//! user's reference (`acting`), a field added after they were first signed. Bytes signed before
//! it existed end where it would begin; they still open, as a value whose reference is empty,
//! so messages stored before the field existed stay readable (see [`decode_value`]).

use bincode::{Decode, Encode};

use crate::{
    acting::{ActingError, check_acting},
    codec::{self, CodecError},
    identity::{BureauId, IdentityError, NetworkId, Signer, signing_message},
};

/// A kind of value that travels signed.
pub trait SignedKind: Encode + Decode<()> {
    /// Domain tag of this kind's signatures, so a signature never counts for another kind.
    const DOMAIN: &'static [u8];
    /// Largest encoding of a value of this kind.
    const MAX_BYTES: usize;
    /// Who must have signed it.
    fn signer(&self) -> BureauId;
    /// True for kinds whose last field is the acting user's reference (a `String`).
    const ACTING_LAST: bool = false;
    /// The acting user's reference the value carries (empty for kinds without one).
    fn acting(&self) -> &str {
        ""
    }
}

/// Decodes a value of kind `T` from its signed bytes (canonical form required). For a kind
/// whose last field is the acting reference, bytes that end just before that field (signed
/// before it existed) read as a value with an empty reference.
pub fn decode_value<T: SignedKind>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_with(bytes, |b, limit| codec::decode(b, limit))
}

/// Like [`decode_value`], without the re-encoding check: for bytes this node itself checked
/// and stored earlier.
pub fn decode_stored_value<T: SignedKind>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_with(bytes, |b, limit| codec::decode_stored(b, limit))
}

fn decode_with<T: SignedKind>(
    bytes: &[u8],
    decode: impl Fn(&[u8], usize) -> Result<T, CodecError>,
) -> Result<T, CodecError> {
    match decode(bytes, T::MAX_BYTES) {
        Err(CodecError::Decode(bincode::error::DecodeError::UnexpectedEnd { .. }))
            if T::ACTING_LAST =>
        {
            // An empty `String` is its length alone: a u64 zero in the canonical encoding.
            let mut padded = Vec::with_capacity(bytes.len() + 8);
            padded.extend_from_slice(bytes);
            padded.extend_from_slice(&0u64.to_le_bytes());
            decode(&padded, T::MAX_BYTES + 8)
        }
        other => other,
    }
}

/// Failures of signed messages.
#[derive(Debug, thiserror::Error)]
pub enum SignedError {
    /// The value does not decode or is too large.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The signature does not verify against the key the value names.
    #[error("bad signature: {0}")]
    Signature(#[from] IdentityError),
    /// The signing key is not the one the value names.
    #[error("signed by {actual}, but the message names {named}")]
    WrongSigner {
        /// The key that signed.
        actual: BureauId,
        /// The key the value names.
        named: BureauId,
    },
    /// The acting user's reference breaks its bounds.
    #[error(transparent)]
    Acting(#[from] ActingError),
    /// The message verifies, but its signer is not the member that sent it (a relayed or
    /// replayed message).
    #[error("sent by {sender}, but signed by {signer}")]
    NotFromSender {
        /// The member the message came from.
        sender: BureauId,
        /// The member that signed it.
        signer: BureauId,
    },
}

/// A value's canonical bytes and the signature over them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedMessage {
    /// Canonical encoding of the value.
    pub bytes: Vec<u8>,
    /// ed25519 signature over `signing_message(T::DOMAIN, network, bytes)`.
    pub signature: [u8; 64],
}

impl SignedMessage {
    /// Signs `value`; `signer` must be the value's named signer.
    pub fn sign<T: SignedKind>(
        value: &T,
        signer: &Signer,
        network: &NetworkId,
    ) -> Result<Self, SignedError> {
        if signer.bureau() != value.signer() {
            return Err(SignedError::WrongSigner {
                actual: signer.bureau(),
                named: value.signer(),
            });
        }
        check_acting(value.acting())?;
        let bytes = codec::encode(value, T::MAX_BYTES)?;
        let signature = signer.sign(&signing_message(T::DOMAIN, network, &bytes));
        Ok(SignedMessage { bytes, signature })
    }

    /// Decodes the value (canonical form required), verifies the signature of the signer it
    /// names, and checks the acting user's reference it carries.
    pub fn open<T: SignedKind>(&self, network: &NetworkId) -> Result<T, SignedError> {
        let value: T = decode_value(&self.bytes)?;
        value.signer().verify(
            &signing_message(T::DOMAIN, network, &self.bytes),
            &self.signature,
        )?;
        check_acting(value.acting())?;
        Ok(value)
    }

    /// Like `open`, and the signer must be `sender`, the member the message came from.
    pub fn open_from<T: SignedKind>(
        &self,
        network: &NetworkId,
        sender: &BureauId,
    ) -> Result<T, SignedError> {
        let value: T = self.open(network)?;
        if value.signer() != *sender {
            return Err(SignedError::NotFromSender {
                sender: *sender,
                signer: value.signer(),
            });
        }
        Ok(value)
    }

    /// Hex of the signature, for display.
    pub fn signature_hex(&self) -> String {
        hex::encode(self.signature)
    }
}
