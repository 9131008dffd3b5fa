//! Signed point-to-point messages (trace requests and answers, confirmation results): a
//! value's canonical bytes and its signer's ed25519 signature over a domain-separated message
//! bound to the network. The signer is named inside the value, so a verified message proves
//! who said it, wherever it is later shown (audit logs, trace results).

use bincode::{Decode, Encode};

use crate::{
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
        let bytes = codec::encode(value, T::MAX_BYTES)?;
        let signature = signer.sign(&signing_message(T::DOMAIN, network, &bytes));
        Ok(SignedMessage { bytes, signature })
    }

    /// Decodes the value (canonical form required) and verifies the signature of the signer
    /// it names.
    pub fn open<T: SignedKind>(&self, network: &NetworkId) -> Result<T, SignedError> {
        let value: T = codec::decode(&self.bytes, T::MAX_BYTES)?;
        value.signer().verify(
            &signing_message(T::DOMAIN, network, &self.bytes),
            &self.signature,
        )?;
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
