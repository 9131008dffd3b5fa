//! The content-addressed blob store holding the raw X3P files of this node's exhibits: each
//! blob is named by the blake3 hash of its bytes, kept under fanned-out names (`ab/cd/abcd...`)
//! and checked against its name on every read. `BlobStore` is the narrow interface; the node
//! config (`[blobs]`) picks the backend: a folder of the data dir (`FsBlobStore`, the default)
//! or an S3-compatible object store (`ObjectBlobStore`, in `object.rs`). Both write a blob
//! whole or not at all.

mod object;

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use futures::future::BoxFuture;

use crate::config::BlobsConfig;

pub use object::ObjectBlobStore;

/// The largest blob read back: the API's upload cap (64 MiB), so a blob larger than any scan
/// the node could have stored is refused rather than read into memory.
pub const MAX_BLOB_BYTES: u64 = crate::api::MAX_BODY_BYTES as u64;

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
    /// A stored blob is larger than any scan the node accepts.
    #[error("blob {name} is {size} bytes, over the {MAX_BLOB_BYTES}-byte cap")]
    TooLarge {
        /// The blob.
        name: String,
        /// Its size as stored.
        size: u64,
    },
    /// The object store could not be reached or failed (network, timeout, server error).
    #[error("object store {store}: {source}")]
    Unavailable {
        /// `s3://bucket/prefix`.
        store: String,
        /// What the client said.
        source: object_store::Error,
    },
    /// The object store refused this node's credentials or their rights.
    #[error("object store {store} refused access (check the credentials): {source}")]
    Denied {
        /// `s3://bucket/prefix`.
        store: String,
        /// What the client said.
        source: object_store::Error,
    },
    /// The object store could not be set up from the config and environment.
    #[error("object store {store} cannot be set up: {source}")]
    Setup {
        /// `s3://bucket/prefix`.
        store: String,
        /// What the client said.
        source: object_store::Error,
    },
    /// Hashing off the runtime failed.
    #[error("blob hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl BlobError {
    /// Whether the blob store is out of reach (the API answers 503) rather than broken.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BlobError::Unavailable { .. })
    }

    /// The kind of failure, as a metric label.
    pub fn label(&self) -> &'static str {
        match self {
            BlobError::Io { .. } => "io",
            BlobError::Corrupt(_) => "corrupt",
            BlobError::BadName(_) => "bad_name",
            BlobError::TooLarge { .. } => "too_large",
            BlobError::Unavailable { .. } => "unavailable",
            BlobError::Denied { .. } => "denied",
            BlobError::Setup { .. } => "setup",
            BlobError::Task(_) => "task",
        }
    }
}

/// Where raw evidence files are kept. Async: a backend may be remote; a caller never blocks a
/// runtime thread on it.
pub trait BlobStore: Send + Sync {
    /// The backend's name, for metrics: `fs` or `s3`.
    fn backend(&self) -> &'static str;
    /// The folder holding the files, when they are files on this machine (for backups).
    fn folder(&self) -> Option<&Path> {
        None
    }
    /// Stores `bytes` durably and returns their name (blake3, hex). Storing the same bytes
    /// twice keeps one copy.
    fn put(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<String, BlobError>>;
    /// The bytes named `name`, checked against the name; `None` if absent.
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, BlobError>>;
}

/// The blob store the config names.
pub fn open(config: &BlobsConfig) -> Result<Box<dyn BlobStore>, BlobError> {
    Ok(match config {
        BlobsConfig::Folder(dir) => Box::new(FsBlobStore::new(dir)),
        BlobsConfig::S3(s3) => Box::new(ObjectBlobStore::s3(s3)?),
    })
}

/// Checks a blob name: 64 lower-case hex characters.
fn check_name(name: &str) -> Result<(), BlobError> {
    let valid = name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid {
        Ok(())
    } else {
        Err(BlobError::BadName(name.to_string()))
    }
}

/// The blake3 name of `bytes`, computed on a blocking thread (a scan is up to 64 MiB); the
/// bytes come back with it.
async fn name_of(bytes: Vec<u8>) -> Result<(Vec<u8>, String), BlobError> {
    Ok(tokio::task::spawn_blocking(move || {
        let name = blake3::hash(&bytes).to_hex().to_string();
        (bytes, name)
    })
    .await?)
}

/// Blobs as files under a folder of the data dir: written to a temporary file, fsynced and
/// renamed into place, so a blob is either whole or absent.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsBlobStore { root: root.into() }
    }

    fn path_of(root: &Path, name: &str) -> Result<PathBuf, BlobError> {
        check_name(name)?;
        // Two levels of 256 folders keep directories small at millions of blobs.
        Ok(root.join(&name[..2]).join(&name[2..4]).join(name))
    }

    fn put_blocking(root: &Path, bytes: &[u8]) -> Result<String, BlobError> {
        let name = blake3::hash(bytes).to_hex().to_string();
        let path = Self::path_of(root, &name)?;
        if path.is_file() {
            return Ok(name);
        }
        let dir = path.parent().unwrap_or(root);
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

    fn get_blocking(root: &Path, name: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = Self::path_of(root, name)?;
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        if size > MAX_BLOB_BYTES {
            return Err(BlobError::TooLarge {
                name: name.to_string(),
                size,
            });
        }
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl BlobStore for FsBlobStore {
    fn backend(&self) -> &'static str {
        "fs"
    }

    fn folder(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn put(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<String, BlobError>> {
        let root = self.root.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || Self::put_blocking(&root, &bytes)).await?
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, BlobError>> {
        let root = self.root.clone();
        let name = name.to_string();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || Self::get_blocking(&root, &name)).await?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_round_trip_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = FsBlobStore::new(&root);
        let name = store.put(b"scan bytes".to_vec()).await.unwrap();
        assert_eq!(store.put(b"scan bytes".to_vec()).await.unwrap(), name);
        assert_eq!(store.get(&name).await.unwrap().unwrap(), b"scan bytes");
        let other = blake3::hash(b"other").to_hex().to_string();
        assert!(store.get(&other).await.unwrap().is_none());
        assert!(matches!(
            store.get("../etc").await,
            Err(BlobError::BadName(_))
        ));
        let path = FsBlobStore::path_of(&root, &name).unwrap();
        std::fs::write(&path, b"tampered").unwrap();
        assert!(matches!(store.get(&name).await, Err(BlobError::Corrupt(_))));
        // A file over the cap is refused before it is read.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(MAX_BLOB_BYTES + 1)
            .unwrap();
        assert!(matches!(
            store.get(&name).await,
            Err(BlobError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_config_picks_the_folder_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let config = BlobsConfig::Folder(dir.path().join("blobs"));
        assert!(open(&config).is_ok());
    }
}
