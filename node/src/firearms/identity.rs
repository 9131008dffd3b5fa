//! Which of this node's records a firearm already is: its make (as the reference table names
//! it) and its normalised serial. An import sent again, or a file exported from another
//! system each month, updates the records it names instead of adding them twice, and
//! announces nothing for a record that did not change. A firearm without a readable serial
//! has no identity: each such line is a record of its own.
//!
//! Each record keeps its identity in its stored value, written with it (no second write);
//! the lookup the other way is a map in memory (about 40 bytes a record), read from the
//! records at start.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use striae_firearms_lib::{FirearmRecord, ReferenceTable};

use super::records::{RECORDS_TREE, StoredRecord, kept_identity, make_key};
use crate::store::{Keyspace, StoreError};

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

/// The identities of this node's records: identity → the record's sequence number.
#[derive(Clone, Default)]
pub struct Identities {
    /// Held while an import looks identities up and claims new ones, so that two imports
    /// naming the same firearm at once do not both add it.
    records: Arc<Mutex<HashMap<Identity, u64>>>,
}

/// The identity map, held.
pub type Claims<'a> = MutexGuard<'a, HashMap<Identity, u64>>;

impl Identities {
    /// Reads the identities of `records`: kept in each value, or worked out with `table` (the
    /// built-in reference table) for records stored before identities were kept.
    pub fn read(records: &Keyspace, table: &ReferenceTable) -> Result<Self, StoreError> {
        let identities = Identities::default();
        let mut map = identities.claiming();
        for item in records.iter() {
            let (key, value) = item?;
            let n = <[u8; 8]>::try_from(key.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::corrupt(RECORDS_TREE, "key is not 8 bytes"))?;
            let kept = match kept_identity(&value)? {
                Some(id) => Some(id),
                None => StoredRecord::decode(&value, table)
                    .ok()
                    .and_then(|s| identity_of(&s.record)),
            };
            if let Some(id) = kept {
                map.insert(id, n);
            }
        }
        drop(map);
        Ok(identities)
    }

    /// The identity map, for lookups and claims (held by an import's write phase).
    pub fn claiming(&self) -> Claims<'_> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record `n` changed from `before` (`None`: it is new) to `after` (`None`: it is being
    /// removed): its identity follows.
    pub fn changed(&self, n: u64, before: Option<&FirearmRecord>, after: Option<&FirearmRecord>) {
        let mut claims = self.claiming();
        if let Some(old) = before.and_then(identity_of)
            && claims.get(&old) == Some(&n)
        {
            claims.remove(&old);
        }
        if let Some(new) = after.and_then(identity_of) {
            claims.insert(new, n);
        }
    }

    /// Record `n`, stored as `value`, is being removed.
    pub fn forget(&self, n: u64, value: &[u8]) {
        if let Ok(Some(id)) = kept_identity(value) {
            let mut claims = self.claiming();
            if claims.get(&id) == Some(&n) {
                claims.remove(&id);
            }
        }
    }
}
