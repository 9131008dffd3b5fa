//! Which of this node's records a firearm already is: its make (as the reference table names
//! it) and its normalised serial. An import sent again, or a file exported from another
//! system each month, updates the records it names instead of adding them twice, and
//! announces nothing for a record that did not change. A firearm without a readable serial
//! has no identity: each such line is a record of its own.

use striae_firearms_lib::FirearmRecord;

use super::records::{RECORDS_TREE, StoredRecord, make_key};
use crate::store::{Keyspace, Store, StoreError};
use striae_firearms_lib::ReferenceTable;

/// identity → record sequence number (8 bytes, big-endian).
const IDENTITY_TREE: &str = "firearm_identity";

/// A record's identity: a hash of its make key and normalised serial.
pub type Identity = [u8; 16];

/// The identity of `record`, if it has a serial to be known by.
pub fn identity_of(record: &FirearmRecord) -> Option<Identity> {
    let serial = &record.serial.normalised;
    if serial.is_empty() {
        return None;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"striae-record-identity-v1:");
    hasher.update(make_key(&record.make.normalised).as_bytes());
    hasher.update(&[0]);
    hasher.update(serial.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    Some(id)
}

/// The identities of this node's records.
#[derive(Clone)]
pub struct Identities {
    keyspace: Keyspace,
    /// Held while an import looks identities up and claims new ones, so that two imports
    /// naming the same firearm at once do not both add it.
    claims: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Identities {
    /// Opens the identities; a store written before they existed gets them read from its
    /// records once (with `table`, the built-in reference table).
    pub fn open(
        store: &Store,
        records: &Keyspace,
        table: &ReferenceTable,
    ) -> Result<Self, StoreError> {
        let identities = Identities {
            keyspace: store.keyspace(IDENTITY_TREE)?,
            claims: Default::default(),
        };
        if identities.keyspace.is_empty()? && !records.is_empty()? {
            let mut read = 0u64;
            for item in records.iter() {
                let (key, value) = item?;
                let n = seq_of(&key)?;
                if let Some(id) = StoredRecord::decode(&value, table)
                    .ok()
                    .and_then(|s| identity_of(&s.record))
                {
                    identities.keyspace.insert_if_absent(id, n.to_be_bytes())?;
                }
                read += 1;
            }
            tracing::info!(records = read, "record identities read from the records");
        }
        Ok(identities)
    }

    /// Sole right to look up and claim identities until dropped (imports' write phase).
    pub fn claiming(&self) -> std::sync::MutexGuard<'_, ()> {
        self.claims.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record with identity `id`, if any.
    pub fn get(&self, id: &Identity) -> Result<Option<u64>, StoreError> {
        self.keyspace.get(id)?.map(|v| seq_of(&v)).transpose()
    }

    /// Record `n` has identity `id`.
    pub fn set(&self, id: &Identity, n: u64) -> Result<(), StoreError> {
        self.keyspace.insert(id, n.to_be_bytes())
    }

    /// Record `n` no longer has identity `id` (another record's claim is left alone).
    pub fn remove(&self, id: &Identity, n: u64) -> Result<(), StoreError> {
        if self.get(id)? == Some(n) {
            self.keyspace.remove(id)?;
        }
        Ok(())
    }

    /// Record `n` changed from `before` to `after`: its identity follows.
    pub fn moved(
        &self,
        n: u64,
        before: &FirearmRecord,
        after: &FirearmRecord,
    ) -> Result<(), StoreError> {
        let (old, new) = (identity_of(before), identity_of(after));
        if old == new {
            return Ok(());
        }
        if let Some(old) = old {
            self.remove(&old, n)?;
        }
        match new {
            Some(new) => self.set(&new, n),
            None => Ok(()),
        }
    }
}

fn seq_of(bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::corrupt(RECORDS_TREE, "a sequence number is not 8 bytes"))
}
