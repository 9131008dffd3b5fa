//! The production backend: one sled database, a sled tree per keyspace.

use std::{ops::Bound, path::Path, sync::Arc};

use futures::future::BoxFuture;

use super::{
    StoreError,
    kv::{KeyValueStore, Keyspace, KeyspaceBackend, KvIter, KvPair},
};

/// How often sled writes out what no caller flushed. Every write a caller must not lose (our
/// own entries, whatever an API call changed) is flushed before it is announced or answered;
/// what is left to this flush (entries and receipts received from peers) peers hold and send
/// again, so the interval only bounds how much a crash makes us fetch again. Each flush
/// costs a write and a sync per database, which adds up with many members on one host.
const BACKGROUND_FLUSH_MS: u64 = 2_000;

/// A sled database on disk.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
}

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(256 << 20)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(BACKGROUND_FLUSH_MS))
            .open()
            .map_err(|e| StoreError::backend("open", e))?;
        Ok(SledStore { db })
    }
}

impl KeyValueStore for SledStore {
    fn keyspace(&self, name: &str) -> Result<Keyspace, StoreError> {
        let tree = self
            .db
            .open_tree(name)
            .map_err(|e| StoreError::backend("open keyspace", e))?;
        Ok(Keyspace::new(name, Arc::new(SledKeyspace(tree))))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| StoreError::backend("flush", e))
    }

    fn flush_async(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        let db = self.db.clone();
        Box::pin(async move {
            db.flush_async()
                .await
                .map(|_| ())
                .map_err(|e| StoreError::backend("flush", e))
        })
    }
}

struct SledKeyspace(sled::Tree);

fn pair(item: sled::Result<(sled::IVec, sled::IVec)>) -> Result<KvPair, StoreError> {
    item.map(|(k, v)| (k.to_vec(), v.to_vec()))
        .map_err(|e| StoreError::backend("read", e))
}

impl KeyspaceBackend for SledKeyspace {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| StoreError::backend("read", e))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.0
            .insert(key, value)
            .map(|_| ())
            .map_err(|e| StoreError::backend("write", e))
    }

    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        self.0
            .compare_and_swap(key, None as Option<&[u8]>, Some(value))
            .map(|swapped| swapped.is_ok())
            .map_err(|e| StoreError::backend("write", e))
    }

    fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.0
            .remove(key)
            .map(|_| ())
            .map_err(|e| StoreError::backend("write", e))
    }

    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter {
        Box::new(self.0.range::<Vec<u8>, _>((from, to)).map(pair))
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}
