//! Storage behind a narrow key-value trait (`kv`), with sled on disk (`sled_kv`) and an
//! in-memory backend for tests and the simulator (`memory`). `Store` holds the feeds on top of
//! it; capabilities get keyspaces of their own (`Store::keyspace`). Durability of each call is
//! stated on it; `flush` is what makes "an API call that answered success has reached disk"
//! true. Nothing outside this folder names the backend's types.
//!
//! Keyspaces: `entries` (origin ++ first seq -> a chunk of that origin's consecutive signed
//! entries, exactly as received), `heads` (origin ->
//! highest contiguous seq and its id), `evidence` (equivocation proofs), `ack_points` (when each member's heads reached each seq:
//! the receipts), `received` (chunk key -> when this node stored that chunk, so projections
//! rebuilt at start know when each entry arrived), and the trees that capabilities keep
//! (`store.keyspace(name)`).

pub mod kv;
mod memory;
mod sled_kv;

use std::{path::Path, sync::Arc};

pub use kv::{KeyValueStore, Keyspace, KvIter, KvPair, SnapshotVisitor};
pub use memory::MemoryStore;
pub use sled_kv::{SledStore, private_folder};
use striae_protocol::{BureauId, EntryId, Head, VerifiedEntry, time::now_ms};

/// Storage failures. Any of them means the disk or the database is in trouble, not the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database backend failed.
    #[error("database {op} failed: {source}")]
    Backend {
        /// What was being done (read, write, flush, open).
        op: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another process holds the database (a second `striae run` on the same data dir).
    #[error(
        "the data dir's database {0} is in use by another striae process: stop that one first \
         (or, if none runs, check that no other program holds the folder)"
    )]
    InUse(std::path::PathBuf),
    /// A stored value does not decode: the database was written by something else or damaged.
    #[error("corrupt stored value in {tree}: {message}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// What failed.
        message: String,
    },
}

impl StoreError {
    /// The backend failed while doing `op`.
    pub fn backend(
        op: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            op,
            source: Box::new(source),
        }
    }

    /// A stored value in `tree` does not decode.
    pub fn corrupt(tree: &'static str, message: impl ToString) -> StoreError {
        corrupt(tree, message)
    }
}

fn corrupt(tree: &'static str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree,
        message: message.to_string(),
    }
}

/// The node's database: the feeds, and the keyspaces capabilities keep.
#[derive(Clone)]
pub struct Store {
    kv: Arc<dyn KeyValueStore>,
    entries: Keyspace,
    heads: Keyspace,
    evidence: Keyspace,
    received: Keyspace,
    ack_points: Keyspace,
}

fn entry_key(origin: &BureauId, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&origin.0);
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn bureau_from(bytes: &[u8], tree: &'static str) -> Result<BureauId, StoreError> {
    let arr: [u8; 32] = bytes
        .get(..32)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(tree, "short key"))?;
    Ok(BureauId(arr))
}

impl Store {
    /// Opens (or creates) the on-disk database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::over(Arc::new(SledStore::open(dir)?))
    }

    /// A database held in memory only (tests, the simulator).
    pub fn memory() -> Self {
        Self::over(Arc::new(MemoryStore::default())).unwrap_or_else(|e| {
            unreachable!("the in-memory backend cannot fail to open a keyspace: {e}")
        })
    }

    /// The feeds on top of any backend.
    pub fn over(kv: Arc<dyn KeyValueStore>) -> Result<Self, StoreError> {
        Ok(Store {
            entries: kv.keyspace("entries")?,
            heads: kv.keyspace("heads")?,
            evidence: kv.keyspace("evidence")?,
            received: kv.keyspace("received")?,
            ack_points: kv.keyspace("ack_points")?,
            kv,
        })
    }

    /// Makes every write so far durable. Call before answering success to an API caller.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.kv.flush_async().await
    }

    /// Makes every write so far durable, blocking the thread.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.kv.flush()
    }

    /// Shows `visit` every pair of every keyspace as of one moment (writes wait meanwhile);
    /// for backups. Blocks the thread.
    pub fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError> {
        self.kv.snapshot(visit)
    }

    /// A named keyspace, for the capabilities' own records (firearms, ballistics, audit).
    pub fn keyspace(&self, name: &str) -> Result<Keyspace, StoreError> {
        self.kv.keyspace(name)
    }

    // ---- feeds ----

    /// Highest contiguous seq held from `origin` and its id.
    pub fn head(&self, origin: &BureauId) -> Result<Option<(u64, EntryId)>, StoreError> {
        self.heads
            .get(origin.0)?
            .map(|v| decode_head(&v))
            .transpose()
    }

    /// All heads held.
    pub fn heads(&self) -> Result<Vec<Head>, StoreError> {
        let mut out = Vec::new();
        for item in self.heads.iter() {
            let (k, v) = item?;
            let (seq, id) = decode_head(&v)?;
            out.push(Head {
                origin: bureau_from(&k, "heads")?,
                seq,
                id,
            });
        }
        Ok(out)
    }

    /// Stores a contiguous run of one origin's verified entries, as one chunk value keyed by
    /// the run's first seq (a page pulled in catch-up costs one insert, not a thousand). Not
    /// flushed: the head moves only afterwards (`set_head`), so a crash in between leaves
    /// entries that are simply pulled again. Chunks never disagree: an `(origin, seq)` holds
    /// the same signed bytes wherever it is stored, and a frozen feed is never written again.
    /// Plain inserts, not a sled batch: sled serialises batches behind a process-wide lock
    /// that every reader and writer of every database then waits on.
    pub fn put_entries(&self, run: &[VerifiedEntry]) -> Result<(), StoreError> {
        let received_at = now_ms().to_be_bytes();
        let mut rest = run;
        while let Some(first) = rest.first() {
            let mut size = 0usize;
            let take = rest
                .iter()
                .take_while(|e| {
                    size += e.wire.len() + 4;
                    size <= MAX_CHUNK_BYTES || size == e.wire.len() + 4
                })
                .count()
                .max(1);
            let (piece, tail) = rest.split_at(take.min(rest.len()));
            let mut value = Vec::with_capacity(size);
            for e in piece {
                let len = u32::try_from(e.wire.len()).unwrap_or(u32::MAX);
                value.extend_from_slice(&len.to_be_bytes());
                value.extend_from_slice(&e.wire);
            }
            let key = entry_key(&first.entry.origin, first.entry.seq);
            self.entries.insert(&key[..], value)?;
            self.received.insert(&key[..], &received_at[..])?;
            rest = tail;
        }
        Ok(())
    }

    /// Moves `origin`'s head. Call after the entries and their projections are written.
    pub fn set_head(&self, origin: &BureauId, seq: u64, id: &EntryId) -> Result<(), StoreError> {
        let mut value = [0u8; 40];
        value[..8].copy_from_slice(&seq.to_be_bytes());
        value[8..].copy_from_slice(&id.0);
        self.heads.insert(origin.0, &value[..])?;
        Ok(())
    }

    /// The chunk that would hold `(origin, seq)`: its first seq and its bytes.
    fn chunk_at(&self, origin: &BureauId, seq: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let found = self
            .entries
            .range(entry_key(origin, 0)..=entry_key(origin, seq))
            .next_back()
            .transpose()?;
        let Some((key, value)) = found else {
            return Ok(None);
        };
        let first = u64::from_be_bytes(
            key.get(32..40)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| corrupt("entries", "short key"))?,
        );
        Ok(Some((first, value)))
    }

    /// The signed wire bytes of one entry.
    pub fn entry(&self, origin: &BureauId, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((first, chunk)) = self.chunk_at(origin, seq)? else {
            return Ok(None);
        };
        let index = usize::try_from(seq - first).unwrap_or(usize::MAX);
        Ok(frames(&chunk).nth(index).map(<[u8]>::to_vec))
    }

    /// Consecutive entries of `origin` from `from_seq`, at most `limit` of them and at most
    /// `max_bytes` in all (always at least one if any is held).
    pub fn entries_from(
        &self,
        origin: &BureauId,
        from_seq: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut bytes = 0usize;
        let mut next = from_seq;
        'chunks: while out.len() < limit {
            let Some((first, chunk)) = self.chunk_at(origin, next)? else {
                break;
            };
            let skip = usize::try_from(next - first).unwrap_or(usize::MAX);
            let before = out.len();
            for wire in frames(&chunk).skip(skip) {
                if out.len() >= limit || (bytes + wire.len() > max_bytes && !out.is_empty()) {
                    break 'chunks;
                }
                bytes += wire.len();
                out.push(wire.to_vec());
                next += 1;
            }
            if out.len() == before {
                break;
            }
        }
        Ok(out)
    }

    /// Calls `visit` with every applied entry of every feed, feed by feed in seq order, so
    /// that a capability can rebuild an in-memory index at start.
    pub fn for_each_entry(
        &self,
        mut visit: impl FnMut(VerifiedEntry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.for_each_entry_received(|entry, _| visit(entry))
    }

    /// Like `for_each_entry`, with when this node stored each entry (ms since the epoch; 0
    /// when unknown).
    pub fn for_each_entry_received(
        &self,
        mut visit: impl FnMut(VerifiedEntry, u64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for head in self.heads()? {
            for item in self
                .entries
                .range(entry_key(&head.origin, 0)..=entry_key(&head.origin, head.seq))
            {
                let (key, chunk) = item?;
                let received_at = self
                    .received
                    .get(&key)?
                    .and_then(|v| {
                        <[u8; 8]>::try_from(v.as_slice())
                            .ok()
                            .map(u64::from_be_bytes)
                    })
                    .unwrap_or(0);
                for wire in frames(&chunk) {
                    let entry = VerifiedEntry::from_stored(wire.to_vec())
                        .map_err(|e| corrupt("entries", e))?;
                    if entry.entry.seq <= head.seq {
                        visit(entry, received_at)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of entries held in all feeds (contiguous from seq 1).
    pub fn entry_count(&self) -> Result<u64, StoreError> {
        Ok(self.heads()?.iter().map(|h| h.seq).sum())
    }

    // ---- equivocation evidence ----

    /// Keeps two conflicting signed entries for one `(origin, seq)` as evidence.
    pub fn put_evidence(
        &self,
        origin: &BureauId,
        seq: u64,
        first: &[u8],
        second: &[u8],
    ) -> Result<(), StoreError> {
        let value = serde_json::json!({
            "origin": origin.to_string(),
            "seq": seq,
            "first": hex::encode(first),
            "second": hex::encode(second),
        });
        self.evidence
            .insert(entry_key(origin, seq), value.to_string().as_bytes())?;
        Ok(())
    }

    /// All equivocation evidence: `(origin, seq)` pairs.
    pub fn evidence(&self) -> Result<Vec<(BureauId, u64)>, StoreError> {
        let mut out = Vec::new();
        for item in self.evidence.iter() {
            let (k, _) = item?;
            let seq = u64::from_be_bytes(
                k.get(32..40)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| corrupt("evidence", "short key"))?,
            );
            out.push((bureau_from(&k, "evidence")?, seq));
        }
        Ok(out)
    }

    // ---- receipts ----

    /// Records that `member` stated, at `at_ms`, that it holds `origin`'s feed up to `seq`,
    /// unless an earlier statement of that seq is already recorded. These points answer
    /// "since when does member m hold entry s of origin o".
    pub fn put_ack_point(
        &self,
        member: &BureauId,
        origin: &BureauId,
        seq: u64,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let mut key = [0u8; 72];
        key[..32].copy_from_slice(&member.0);
        key[32..64].copy_from_slice(&origin.0);
        key[64..].copy_from_slice(&seq.to_be_bytes());
        self.ack_points.insert_if_absent(key, at_ms.to_be_bytes())?;
        Ok(())
    }

    /// When `member` first stated that it holds entry `seq` of `origin`, if it has.
    pub fn acked_at(
        &self,
        member: &BureauId,
        origin: &BureauId,
        seq: u64,
    ) -> Result<Option<u64>, StoreError> {
        let mut from = [0u8; 72];
        from[..32].copy_from_slice(&member.0);
        from[32..64].copy_from_slice(&origin.0);
        from[64..].copy_from_slice(&seq.to_be_bytes());
        let mut to = from;
        to[64..].copy_from_slice(&u64::MAX.to_be_bytes());
        match self.ack_points.range(from..=to).next() {
            None => Ok(None),
            Some(item) => {
                let (_, v) = item?;
                let at = <[u8; 8]>::try_from(v.as_slice())
                    .map_err(|_| corrupt("ack_points", "bad time"))?;
                Ok(Some(u64::from_be_bytes(at)))
            }
        }
    }
}

/// Serde helper: a bureau id as hex of its key (cheaper than the base58 PeerId form) in
/// node-local records.
pub mod bureau_hex {
    use striae_protocol::BureauId;

    /// Serialises as 64 hex characters.
    pub fn serialize<S: serde::Serializer>(b: &BureauId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b.0))
    }

    /// Parses 64 hex characters.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BureauId, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(BureauId(out))
    }
}

/// Largest chunk value written for a run of entries.
const MAX_CHUNK_BYTES: usize = 4 << 20;

/// The entries in a chunk value: `[u32 big-endian length][signed entry]` repeated. A damaged
/// chunk ends the iteration early rather than yielding garbage.
fn frames(chunk: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = chunk;
    std::iter::from_fn(move || {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let frame = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        Some(frame)
    })
}

fn decode_head(v: &[u8]) -> Result<(u64, EntryId), StoreError> {
    if v.len() != 40 {
        return Err(corrupt("heads", "bad length"));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&v[..8]);
    let mut id = [0u8; 32];
    id.copy_from_slice(&v[8..]);
    Ok((u64::from_be_bytes(seq), EntryId(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use striae_protocol::{
        Body, Entry, NetworkId, NoticeContent, NoticeKind, NoticeOp, Signer, feed::ENTRY_VERSION,
    };

    fn chain(signer: &Signer, n: u64) -> Vec<VerifiedEntry> {
        let mut prev = EntryId::GENESIS;
        (1..=n)
            .map(|seq| {
                let e = Entry {
                    version: ENTRY_VERSION,
                    origin: signer.bureau(),
                    seq,
                    prev,
                    timestamp_ms: 1,
                    body: Body::Notice(NoticeOp::Issue(NoticeContent {
                        kind: NoticeKind::Orange,
                        title: format!("t{seq}"),
                        summary: "s".into(),
                        body: String::new(),
                        expires_at_ms: 2,
                    })),
                }
                .sign(signer, &NetworkId::from_name("t"))
                .expect("test fixture");
                prev = e.id;
                e
            })
            .collect()
    }

    #[test]
    fn entries_read_back_across_chunks_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("test fixture");
        let signer = Signer::from_seed([1; 32]);
        let all = chain(&signer, 50);
        let origin = signer.bureau();
        {
            let store = Store::open(dir.path()).expect("test fixture");
            store.put_entries(&all[..10]).expect("test fixture");
            for e in &all[10..13] {
                store
                    .put_entries(std::slice::from_ref(e))
                    .expect("test fixture");
            }
            store.put_entries(&all[13..]).expect("test fixture");
            store
                .set_head(&origin, 50, &all[49].id)
                .expect("test fixture");
            store.flush_blocking().expect("test fixture");
        }
        let store = Store::open(dir.path()).expect("test fixture");
        for e in &all {
            assert_eq!(
                store
                    .entry(&origin, e.entry.seq)
                    .expect("test fixture")
                    .expect("test fixture"),
                e.wire
            );
        }
        assert!(store.entry(&origin, 51).expect("test fixture").is_none());
        let page = store
            .entries_from(&origin, 8, 20, usize::MAX)
            .expect("test fixture");
        assert_eq!(page.len(), 20);
        assert_eq!(page[0], all[7].wire);
        assert_eq!(page[19], all[26].wire);
        let tail = store
            .entries_from(&origin, 45, 100, usize::MAX)
            .expect("test fixture");
        assert_eq!(tail.len(), 6);
        let small = store
            .entries_from(&origin, 1, 100, 10)
            .expect("test fixture");
        assert_eq!(small.len(), 1, "a page always carries at least one entry");
        assert_eq!(store.entry_count().expect("test fixture"), 50);
    }
}
