//! The announcement journal: what this node wrote to its records but may not have announced
//! yet, so that a crash between the two is finished at the next start instead of leaving a
//! record no member can find; and the imports already done, so that sending the same import
//! again does not store its records twice.
//!
//! Storage: tree `firearm_journal`. Key `r` ++ seq (u64 big-endian) -> nothing: record `seq`
//! changed and its digest (or retraction) may not be in our feed yet. Key `i` ++ import key
//! (32 bytes) -> the import's state as JSON. Each mark is written before what it covers, and
//! sled recovers a prefix of its writes after a crash, so a record that survived a crash has
//! its mark too.

use serde::{Deserialize, Serialize};

use super::ImportOutcome;
use crate::store::{Keyspace, Store, StoreError};

/// Name of the journal tree.
pub const JOURNAL_TREE: &str = "firearm_journal";

const RECORD: u8 = b'r';
const IMPORT: u8 = b'i';

/// Identifies one import: given by the caller (`Idempotency-Key`) or the hash of the document.
pub type ImportKey = [u8; 32];

/// Where an import got to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ImportPhase {
    /// Its records are being written; none is announced yet. Undone after a crash.
    Storing,
    /// Its records are all written and being announced. Finished after a crash.
    Announcing,
    /// Written and announced.
    Done,
}

/// One import as the journal keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportState {
    /// The first record seq it was given.
    pub first: u64,
    /// How many seqs it was given (one per line, refused lines included).
    pub count: u64,
    /// Where it got to.
    pub phase: ImportPhase,
    /// What it answered (from `Announcing` on).
    pub outcome: Option<ImportOutcome>,
}

/// The journal.
#[derive(Clone)]
pub struct Journal {
    tree: Keyspace,
}

fn record_key(seq: u64) -> [u8; 9] {
    let mut key = [RECORD; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn import_key(key: &ImportKey) -> [u8; 33] {
    let mut out = [IMPORT; 33];
    out[1..].copy_from_slice(key);
    out
}

impl Journal {
    /// Opens the journal in `store`.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Journal {
            tree: store.keyspace(JOURNAL_TREE)?,
        })
    }

    /// Record `seq` is about to change.
    pub fn mark_record(&self, seq: u64) -> Result<(), StoreError> {
        self.tree.insert(record_key(seq), Vec::new())
    }

    /// Record `seq`'s change is announced.
    pub fn clear_record(&self, seq: u64) -> Result<(), StoreError> {
        self.tree.remove(record_key(seq))
    }

    /// The records whose announcement may be missing.
    pub fn marked_records(&self) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix([RECORD]) {
            let (key, _) = item?;
            let seq = key
                .get(1..9)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .ok_or_else(|| StoreError::corrupt(JOURNAL_TREE, "bad record key"))?;
            out.push(u64::from_be_bytes(seq));
        }
        Ok(out)
    }

    /// The import `key`, if one was begun.
    pub fn import(&self, key: &ImportKey) -> Result<Option<ImportState>, StoreError> {
        self.tree
            .get(import_key(key))?
            .map(|v| serde_json::from_slice(&v).map_err(|e| StoreError::corrupt(JOURNAL_TREE, e)))
            .transpose()
    }

    /// Records where import `key` got to.
    pub fn set_import(&self, key: &ImportKey, state: &ImportState) -> Result<(), StoreError> {
        let value = serde_json::to_vec(state).map_err(|e| StoreError::corrupt(JOURNAL_TREE, e))?;
        self.tree.insert(import_key(key), value)
    }

    /// Forgets import `key` (it was undone).
    pub fn remove_import(&self, key: &ImportKey) -> Result<(), StoreError> {
        self.tree.remove(import_key(key))
    }

    /// Imports that a crash interrupted (not `Done`).
    pub fn unfinished_imports(&self) -> Result<Vec<(ImportKey, ImportState)>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix([IMPORT]) {
            let (key, value) = item?;
            let key = key
                .get(1..33)
                .and_then(|b| <ImportKey>::try_from(b).ok())
                .ok_or_else(|| StoreError::corrupt(JOURNAL_TREE, "bad import key"))?;
            let state: ImportState =
                serde_json::from_slice(&value).map_err(|e| StoreError::corrupt(JOURNAL_TREE, e))?;
            if state.phase != ImportPhase::Done {
                out.push((key, state));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_imports_survive_reading_back() {
        let journal = Journal::open(&Store::memory()).expect("open");
        journal.mark_record(7).expect("mark");
        journal.mark_record(3).expect("mark");
        journal.clear_record(7).expect("clear");
        assert_eq!(journal.marked_records().expect("list"), vec![3]);
        let state = ImportState {
            first: 10,
            count: 5,
            phase: ImportPhase::Storing,
            outcome: None,
        };
        journal.set_import(&[1; 32], &state).expect("set");
        let done = ImportState {
            phase: ImportPhase::Done,
            ..state
        };
        journal.set_import(&[2; 32], &done).expect("set");
        let unfinished = journal.unfinished_imports().expect("list");
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0].0, [1; 32]);
        assert!(journal.import(&[2; 32]).expect("get").is_some());
    }
}
