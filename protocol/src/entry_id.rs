//! Entry ids: the hash that names a feed entry and chains the next one to it.

use std::fmt;

use bincode::{Decode, Encode};

/// The hash that names an entry and chains the next one to it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Default)]
pub struct EntryId(pub [u8; 32]);

impl EntryId {
    /// The `prev` of the first entry of every feed.
    pub const GENESIS: EntryId = EntryId([0; 32]);

    /// The id of an entry from its canonical encoding (signature excluded: ed25519 signatures
    /// are deterministic, and equivocation is about content, not signature bytes).
    pub fn of_entry_bytes(entry_bytes: &[u8]) -> Self {
        EntryId(
            *blake3::Hasher::new_derive_key("striae entry id v1")
                .update(entry_bytes)
                .finalize()
                .as_bytes(),
        )
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", &self.to_hex()[..16])
    }
}
