//! Storage: sled trees behind a narrow interface. Durability of each call is stated on it;
//! `flush` is what makes "an API call that answered success has reached disk" true.
//!
//! Trees: `entries` (origin ++ seq -> signed entry, exactly as received), `heads` (origin ->
//! highest contiguous seq and its id), `member_heads` (member -> its latest signed heads),
//! `evidence` (equivocation proofs), `ack_points` (when each member's heads reached each seq:
//! the receipts), and the projections that capabilities keep (`notices`).

use std::path::Path;

use striae_protocol::{BureauId, EntryId, Head, NoticeId, SignedHeads, VerifiedEntry, codec};

/// Storage failures. Any of them means the disk or the database is in trouble, not the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error.
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not decode: the database was written by something else or damaged.
    #[error("corrupt stored value in {tree}: {message}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// What failed.
        message: String,
    },
}

fn corrupt(tree: &'static str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree,
        message: message.to_string(),
    }
}

/// The node's database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    entries: sled::Tree,
    heads: sled::Tree,
    member_heads: sled::Tree,
    evidence: sled::Tree,
    notices: sled::Tree,
    ack_points: sled::Tree,
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
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(256 << 20)
            .flush_every_ms(Some(500))
            .open()?;
        Ok(Store {
            entries: db.open_tree("entries")?,
            heads: db.open_tree("heads")?,
            member_heads: db.open_tree("member_heads")?,
            evidence: db.open_tree("evidence")?,
            notices: db.open_tree("notices")?,
            ack_points: db.open_tree("ack_points")?,
            db,
        })
    }

    /// Makes every write so far durable. Call before answering success to an API caller.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Makes every write so far durable, blocking the thread.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
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

    /// Stores verified entries of one origin. Not flushed: the head moves only afterwards
    /// (`set_head`), so a crash in between leaves entries that are simply pulled again.
    pub fn put_entries(&self, entries: &[VerifiedEntry]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for e in entries {
            batch.insert(
                &entry_key(&e.entry.origin, e.entry.seq)[..],
                e.wire.as_slice(),
            );
        }
        self.entries.apply_batch(batch)?;
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

    /// The signed wire bytes of one entry.
    pub fn entry(&self, origin: &BureauId, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .entries
            .get(entry_key(origin, seq))?
            .map(|v| v.to_vec()))
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
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let start = entry_key(origin, from_seq);
        let end = entry_key(origin, u64::MAX);
        for (expected, item) in (from_seq..).zip(self.entries.range(start..=end)) {
            let (k, v) = item?;
            let seq = u64::from_be_bytes(
                k.get(32..40)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| corrupt("entries", "short key"))?,
            );
            if seq != expected
                || out.len() >= limit
                || (bytes + v.len() > max_bytes && !out.is_empty())
            {
                break;
            }
            bytes += v.len();
            out.push(v.to_vec());
        }
        Ok(out)
    }

    /// Number of entries held in all feeds.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    // ---- heads of other members (receipts) ----

    /// The latest signed heads stored for `member`.
    pub fn member_heads(&self, member: &BureauId) -> Result<Option<SignedHeads>, StoreError> {
        self.member_heads
            .get(member.0)?
            .map(|v| codec::decode(&v, 256 * 1024).map_err(|e| corrupt("member_heads", e)))
            .transpose()
    }

    /// Stores `member`'s latest signed heads.
    pub fn put_member_heads(
        &self,
        member: &BureauId,
        heads: &SignedHeads,
    ) -> Result<(), StoreError> {
        let bytes = codec::encode(heads, 256 * 1024).map_err(|e| corrupt("member_heads", e))?;
        self.member_heads.insert(member.0, bytes)?;
        Ok(())
    }

    /// All stored member heads.
    pub fn all_member_heads(&self) -> Result<Vec<SignedHeads>, StoreError> {
        let mut out = Vec::new();
        for item in self.member_heads.iter() {
            let (_, v) = item?;
            out.push(codec::decode(&v, 256 * 1024).map_err(|e| corrupt("member_heads", e))?);
        }
        Ok(out)
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

    // ---- notices projection ----

    /// Reads a JSON-encoded notice record.
    pub fn notice<T: serde::de::DeserializeOwned>(
        &self,
        id: &NoticeId,
    ) -> Result<Option<T>, StoreError> {
        self.notices
            .get(id.0)?
            .map(|v| serde_json::from_slice(&v).map_err(|e| corrupt("notices", e)))
            .transpose()
    }

    /// Writes JSON-encoded notice records in one batch.
    pub fn put_notices<T: serde::Serialize>(
        &self,
        records: &[(NoticeId, T)],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, record) in records {
            let bytes = serde_json::to_vec(record).map_err(|e| corrupt("notices", e))?;
            batch.insert(&id.0[..], bytes);
        }
        self.notices.apply_batch(batch)?;
        Ok(())
    }

    /// All notice records, in id order.
    pub fn notices<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in self.notices.iter() {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).map_err(|e| corrupt("notices", e))?);
        }
        Ok(out)
    }

    // ---- receipts ----

    /// Records that `member` stated, at `at_ms`, that it holds `origin`'s feed up to `seq`.
    /// These points answer "since when does member m hold entry s of origin o".
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
        self.ack_points.insert(key, &at_ms.to_be_bytes()[..])?;
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
                let at: [u8; 8] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("ack_points", "bad time"))?;
                Ok(Some(u64::from_be_bytes(at)))
            }
        }
    }
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
