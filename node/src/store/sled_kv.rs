//! The production backend: one sled database, a sled tree per keyspace.
//!
//! Durability: sled 0.34's `flush` writes its log with `pwrite` and `sync_file_range`, which
//! neither flushes the drive's cache nor the file's size, and it never syncs the files it
//! keeps large values in (`blobs/`). After sled's flush this backend `fsync`s the log file,
//! the blob files written since the last sync and both folders, so that a flush that
//! returned survives a power loss, not only a crash of the process.

use std::{
    ops::Bound,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, SystemTime},
};

use futures::future::BoxFuture;

use super::{
    StoreError,
    kv::{KeyValueStore, Keyspace, KeyspaceBackend, KvIter, KvPair, SnapshotVisitor},
};

/// How often sled writes out what no caller flushed. Every write a caller must not lose (our
/// own entries, whatever an API call changed) is flushed before it is announced or answered;
/// what is left to this flush (entries and receipts received from peers) peers hold and send
/// again, so the interval only bounds how much a crash makes us fetch again. Each flush
/// costs a write and a sync per database, which adds up with many members on one host.
const BACKGROUND_FLUSH_MS: u64 = 2_000;

/// A blob file modified this long before the last sync is synced again anyway: file times
/// are coarse and clocks may step.
const BLOB_MTIME_SLACK: Duration = Duration::from_secs(5);

/// A sled database on disk.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    sync: Arc<FileSync>,
    /// Writers hold it shared for the length of one write; a snapshot holds it alone, so
    /// that no write lands while it walks the keyspaces (sled has no snapshots of its own).
    gate: Arc<RwLock<()>>,
}

/// What `fsync` covers after each flush.
struct FileSync {
    dir: PathBuf,
    /// When the last sync began: blob files changed since then are synced by the next.
    last: Mutex<SystemTime>,
}

impl FileSync {
    fn sync(&self) -> std::io::Result<()> {
        let started = SystemTime::now();
        let since = {
            let last = self
                .last
                .lock()
                .map_err(|_| std::io::Error::other("lock poisoned"))?;
            *last - BLOB_MTIME_SLACK
        };
        std::fs::File::open(self.dir.join("db"))?.sync_all()?;
        let blobs = self.dir.join("blobs");
        if blobs.is_dir() {
            for item in std::fs::read_dir(&blobs)? {
                sync_blob_if_changed(&item?.path(), since)?;
            }
            std::fs::File::open(&blobs)?.sync_all()?;
        }
        std::fs::File::open(&self.dir)?.sync_all()?;
        if let Ok(mut last) = self.last.lock() {
            *last = started;
        }
        Ok(())
    }
}

/// Syncs one blob file if it changed since `since`. sled removes a blob as soon as its value
/// is overwritten or deleted, so a file listed a moment ago may be gone: nothing to sync then.
fn sync_blob_if_changed(path: &Path, since: SystemTime) -> std::io::Result<()> {
    let result = std::fs::metadata(path).and_then(|meta| {
        if meta.modified()? >= since {
            std::fs::File::open(path)?.sync_all()?;
        }
        Ok(())
    });
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl SledStore {
    /// Opens (or creates) the database in `dir`, readable by this user only.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::backend("open", e))?;
        private_folder(dir).map_err(|e| StoreError::backend("open", e))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(256 << 20)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(BACKGROUND_FLUSH_MS))
            .open()
            .map_err(|e| {
                // sled reports a held lock as an I/O error that names it; nothing else does.
                if e.to_string().contains("could not acquire lock") {
                    StoreError::InUse(dir.to_path_buf())
                } else {
                    StoreError::backend("open", e)
                }
            })?;
        let sync = Arc::new(FileSync {
            dir: dir.to_path_buf(),
            last: Mutex::new(SystemTime::UNIX_EPOCH + BLOB_MTIME_SLACK),
        });
        Ok(SledStore {
            db,
            sync,
            gate: Arc::default(),
        })
    }
}

/// Makes `dir` accessible to its owner only: the store holds police records.
pub fn private_folder(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

impl KeyValueStore for SledStore {
    fn keyspace(&self, name: &str) -> Result<Keyspace, StoreError> {
        let tree = self
            .db
            .open_tree(name)
            .map_err(|e| StoreError::backend("open keyspace", e))?;
        Ok(Keyspace::new(
            name,
            Arc::new(SledKeyspace {
                tree,
                gate: self.gate.clone(),
            }),
        ))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map_err(|e| StoreError::backend("flush", e))?;
        self.sync
            .sync()
            .map_err(|e| StoreError::backend("fsync", e))
    }

    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError> {
        self.snapshot_locked(visit)
    }

    fn flush_async(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        let db = self.db.clone();
        let sync = self.sync.clone();
        Box::pin(async move {
            db.flush_async()
                .await
                .map_err(|e| StoreError::backend("flush", e))?;
            tokio::task::spawn_blocking(move || sync.sync())
                .await
                .map_err(|e| StoreError::backend("fsync", e))?
                .map_err(|e| StoreError::backend("fsync", e))
        })
    }
}

impl SledStore {
    fn snapshot_locked(&self, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError> {
        let _no_writes = self.gate.write().unwrap_or_else(|p| p.into_inner());
        for name in self.db.tree_names() {
            let tree = self
                .db
                .open_tree(&name)
                .map_err(|e| StoreError::backend("open keyspace", e))?;
            let name = String::from_utf8_lossy(&name);
            for item in tree.iter() {
                let (key, value) = pair(item)?;
                visit(&name, &key, &value)?;
            }
        }
        Ok(())
    }
}

struct SledKeyspace {
    tree: sled::Tree,
    gate: Arc<RwLock<()>>,
}

impl SledKeyspace {
    /// Holds off a snapshot for the length of one write.
    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }
}

fn pair(item: sled::Result<(sled::IVec, sled::IVec)>) -> Result<KvPair, StoreError> {
    item.map(|(k, v)| (k.to_vec(), v.to_vec()))
        .map_err(|e| StoreError::backend("read", e))
}

impl KeyspaceBackend for SledKeyspace {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| StoreError::backend("read", e))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.tree
            .insert(key, value)
            .map(|_| ())
            .map_err(|e| StoreError::backend("write", e))
    }

    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        let _writing = self.writing();
        self.tree
            .compare_and_swap(key, None as Option<&[u8]>, Some(value))
            .map(|swapped| swapped.is_ok())
            .map_err(|e| StoreError::backend("write", e))
    }

    fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.tree
            .remove(key)
            .map(|_| ())
            .map_err(|e| StoreError::backend("write", e))
    }

    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter {
        Box::new(self.tree.range::<Vec<u8>, _>((from, to)).map(pair))
    }

    fn count(&self) -> usize {
        self.tree.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_removed_after_it_was_listed_needs_no_sync() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let gone = dir.path().join("blobs").join("17");
        assert!(sync_blob_if_changed(&gone, SystemTime::UNIX_EPOCH).is_ok());
    }
}
