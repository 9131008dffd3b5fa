//! The content-addressed blob store holding the raw X3P files of this node's exhibits: each
//! blob is named by the blake3 hash of its bytes, under fanned-out folders
//! (`blobs/ab/cd/abcd...`), written to a temporary file, fsynced and renamed into place, so a
//! blob is either whole or absent. `BlobStore` is the narrow interface, so blobs can later live
//! in an object store without touching the callers.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The file system refused.
    #[error("blob store {path}: {source}")]
    Io {
        /// Where.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A blob's bytes do not hash to its name (disk corruption or tampering).
    #[error("blob {0} is corrupt: its bytes no longer hash to its name")]
    Corrupt(String),
    /// Not a blob name (64 lower-case hex characters).
    #[error("`{0}` is not a blob name")]
    BadName(String),
}

/// Where raw evidence files are kept.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` durably and returns their name (blake3, hex). Storing the same bytes
    /// twice keeps one copy.
    fn put(&self, bytes: &[u8]) -> Result<String, BlobError>;
    /// The bytes named `name`, checked against the name; `None` if absent.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError>;
}

/// Blobs as files under a folder of the data dir.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsBlobStore { root: root.into() }
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, BlobError> {
        let valid = name.len() == 64
            && name
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(BlobError::BadName(name.to_string()));
        }
        // Two levels of 256 folders keep directories small at millions of blobs.
        Ok(self.root.join(&name[..2]).join(&name[2..4]).join(name))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl BlobStore for FsBlobStore {
    fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let name = blake3::hash(bytes).to_hex().to_string();
        let path = self.path_of(&name)?;
        if path.is_file() {
            return Ok(name);
        }
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
        tmp.write_all(bytes).map_err(io_err(&path))?;
        tmp.as_file().sync_all().map_err(io_err(&path))?;
        tmp.persist(&path).map_err(|e| BlobError::Io {
            path: path.display().to_string(),
            source: e.error,
        })?;
        // The rename is durable only once the folder itself is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(name)
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path_of(name)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        if blake3::hash(&bytes).to_hex().as_str() != name {
            return Err(BlobError::Corrupt(name.to_string()));
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path().join("blobs"));
        let name = store.put(b"scan bytes").unwrap();
        assert_eq!(store.put(b"scan bytes").unwrap(), name);
        assert_eq!(store.get(&name).unwrap().unwrap(), b"scan bytes");
        let other = blake3::hash(b"other").to_hex().to_string();
        assert!(store.get(&other).unwrap().is_none());
        assert!(matches!(store.get("../etc"), Err(BlobError::BadName(_))));
        std::fs::write(store.path_of(&name).unwrap(), b"tampered").unwrap();
        assert!(matches!(store.get(&name), Err(BlobError::Corrupt(_))));
    }
}
