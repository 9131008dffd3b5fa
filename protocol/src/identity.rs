//! Bureau identities and signing: a bureau is its ed25519 key, shown as its libp2p PeerId, and
//! every signature is domain-separated and bound to one network.

use std::{
    collections::HashMap,
    fmt,
    str::FromStr,
    sync::{OnceLock, RwLock},
};

use bincode::{Decode, Encode};
use ed25519_dalek::{Signature, VerifyingKey};
use libp2p_identity::{Keypair, PeerId, PublicKey, ed25519};

/// Errors about keys and identities.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The text is not a PeerId.
    #[error("not a bureau id (libp2p PeerId): {0}")]
    NotAPeerId(String),
    /// The PeerId does not embed an ed25519 key, so it cannot sign striae objects.
    #[error("bureau id {0} does not embed an ed25519 public key")]
    NotEd25519(String),
    /// The key bytes are not a valid ed25519 public key (as libp2p decodes them).
    #[error("invalid ed25519 key: {0}")]
    InvalidKey(#[source] libp2p_identity::DecodingError),
    /// The key bytes are not a usable ed25519 verifying key (as ed25519-dalek decodes them).
    #[error("invalid ed25519 key: {0}")]
    InvalidVerifyingKey(#[source] ed25519_dalek::SignatureError),
    /// The libp2p keypair is not an ed25519 keypair.
    #[error("invalid ed25519 key: {0}")]
    NotEd25519Keypair(#[source] libp2p_identity::OtherVariantError),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// A member bureau: its ed25519 public key. Displayed and parsed as the libp2p PeerId
/// (`12D3KooW...`), which embeds the key, so any signature names its signer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct BureauId(pub [u8; 32]);

impl BureauId {
    /// The libp2p PeerId of this bureau.
    pub fn peer_id(&self) -> Result<PeerId, IdentityError> {
        let key = ed25519::PublicKey::try_from_bytes(&self.0).map_err(IdentityError::InvalidKey)?;
        Ok(PublicKey::from(key).to_peer_id())
    }

    /// The bureau whose key is behind `peer`.
    pub fn from_peer_id(peer: &PeerId) -> Result<Self, IdentityError> {
        let key = PublicKey::try_decode_protobuf(peer.as_ref().digest())
            .map_err(|_| IdentityError::NotEd25519(peer.to_string()))?;
        let ed = key
            .try_into_ed25519()
            .map_err(|_| IdentityError::NotEd25519(peer.to_string()))?;
        Ok(BureauId(ed.to_bytes()))
    }

    /// Verifies `signature` over `message` with this bureau's key.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), IdentityError> {
        let key = self.verifying_key()?;
        key.verify_strict(message, &Signature::from_bytes(signature))
            .map_err(|_| IdentityError::BadSignature)
    }

    /// The ed25519-dalek key, for batch verification. Decompressing a key costs about a
    /// third of a signature check, and a network has at most a few hundred members, so
    /// decompressed keys are remembered (a bounded, process-wide memo of a pure function).
    pub fn verifying_key(&self) -> Result<VerifyingKey, IdentityError> {
        static KEYS: OnceLock<RwLock<HashMap<[u8; 32], VerifyingKey>>> = OnceLock::new();
        const MAX_KEYS: usize = 4096;
        let keys = KEYS.get_or_init(Default::default);
        if let Some(key) = keys.read().ok().and_then(|k| k.get(&self.0).copied()) {
            return Ok(key);
        }
        let key = VerifyingKey::from_bytes(&self.0).map_err(IdentityError::InvalidVerifyingKey)?;
        if let Ok(mut keys) = keys.write() {
            if keys.len() >= MAX_KEYS {
                keys.clear();
            }
            keys.insert(self.0, key);
        }
        Ok(key)
    }

    /// A short form for logs: the last 8 characters of the PeerId.
    pub fn short(&self) -> String {
        let full = self.to_string();
        full[full.len().saturating_sub(8)..].to_string()
    }
}

impl fmt::Display for BureauId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.peer_id() {
            Ok(peer) => write!(f, "{peer}"),
            Err(_) => write!(f, "invalid-key-{}", hex::encode(self.0)),
        }
    }
}

impl fmt::Debug for BureauId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BureauId({self})")
    }
}

impl FromStr for BureauId {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let peer = PeerId::from_str(s.trim()).map_err(|_| IdentityError::NotAPeerId(s.into()))?;
        Self::from_peer_id(&peer)
    }
}

impl serde::Serialize for BureauId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BureauId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The network an object belongs to: a hash of the roster's network name. It is part of every
/// signed message, so a signature made for one network (say, a test network) is worthless in
/// another.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub struct NetworkId(pub [u8; 32]);

impl NetworkId {
    /// The id of the network named `name` in the roster.
    pub fn from_name(name: &str) -> Self {
        NetworkId(
            *blake3::Hasher::new_derive_key("striae network id v1")
                .update(name.as_bytes())
                .finalize()
                .as_bytes(),
        )
    }
}

/// Builds the exact bytes a signature covers: a domain tag, the network, then the payload.
pub fn signing_message(domain: &[u8], network: &NetworkId, payload: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(domain.len() + 32 + payload.len());
    msg.extend_from_slice(domain);
    msg.extend_from_slice(&network.0);
    msg.extend_from_slice(payload);
    msg
}

/// A bureau's signing key.
#[derive(Clone)]
pub struct Signer {
    keypair: ed25519::Keypair,
}

impl Signer {
    /// Wraps a libp2p keypair, which must be ed25519.
    pub fn from_keypair(keypair: &Keypair) -> Result<Self, IdentityError> {
        let keypair = keypair
            .clone()
            .try_into_ed25519()
            .map_err(IdentityError::NotEd25519Keypair)?;
        Ok(Signer { keypair })
    }

    /// A signer from a 32-byte secret seed (deterministic: used by tests and golden vectors).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut seed = seed;
        let secret = ed25519::SecretKey::try_from_bytes(&mut seed)
            .unwrap_or_else(|_| unreachable!("any 32 bytes are an ed25519 secret key"));
        Signer {
            keypair: ed25519::Keypair::from(secret),
        }
    }

    /// A fresh random signer.
    pub fn generate() -> Self {
        Signer {
            keypair: ed25519::Keypair::generate(),
        }
    }

    /// The libp2p keypair, for the transport.
    pub fn keypair(&self) -> Keypair {
        Keypair::from(self.keypair.clone())
    }

    /// The bureau this key speaks for.
    pub fn bureau(&self) -> BureauId {
        BureauId(self.keypair.public().to_bytes())
    }

    /// Signs `message` (already domain-separated by the caller through `signing_message`).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let sig = self.keypair.sign(message);
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig);
        out
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.bureau())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bureau_id_round_trips_through_peer_id_text() {
        let signer = Signer::from_seed([7; 32]);
        let id = signer.bureau();
        let text = id.to_string();
        assert!(text.starts_with("12D3KooW"));
        assert_eq!(text.parse::<BureauId>().expect("test fixture"), id);
    }

    #[test]
    fn garbage_is_not_a_bureau_id() {
        assert!("hello".parse::<BureauId>().is_err());
        assert!("".parse::<BureauId>().is_err());
    }

    #[test]
    fn signatures_are_bound_to_the_network() {
        let signer = Signer::from_seed([1; 32]);
        let a = signing_message(b"test:", &NetworkId::from_name("a"), b"payload");
        let b = signing_message(b"test:", &NetworkId::from_name("b"), b"payload");
        let sig = signer.sign(&a);
        assert!(signer.bureau().verify(&a, &sig).is_ok());
        assert!(signer.bureau().verify(&b, &sig).is_err());
    }
}
