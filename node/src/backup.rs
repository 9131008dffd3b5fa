//! Backup and restore of a node's data as one zip file: the database as of one moment (taken
//! while the node runs; writes wait while the keyspaces are read), the bureau's key and
//! bootstrap token, and the raw scans when they are kept in a folder. A restore writes them
//! into an empty data dir of a stopped node, checking the file's manifest and hash first.
//!
//! The file holds the bureau's signing key and police records: keep it as carefully as the
//! data dir itself.

use std::{
    fs::File,
    io::{BufReader, BufWriter, Read, Seek, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use zip::{CompressionMethod, ZipArchive, ZipWriter, write::SimpleFileOptions};

use crate::{
    config::{KEY_FILE, TOKEN_FILE},
    store::{Store, StoreError},
};

/// The `format` named in every manifest.
const FORMAT: &str = "striae-backup";
/// The layout version this build writes and reads.
const VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const STORE_ENTRY: &str = "store.bin";
/// Longest keyspace name, key and value a restore accepts (sled's own limits are larger, but
/// nothing striae writes comes near these).
const MAX_NAME: usize = 256;
const MAX_VALUE: u32 = 1 << 30;

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The zip container could not be written or read.
    #[error("the backup file is not a readable zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file is not a striae backup this build can restore.
    #[error("not a striae backup this version can restore: {0}")]
    Format(String),
    /// The data dir holds a database already.
    #[error(
        "{0} holds a database already: restore into a new data dir, or pass --force to move \
         the existing one aside"
    )]
    Occupied(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a backup holds, written first in the file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Always `striae-backup`.
    pub format: String,
    /// The layout version.
    pub version: u32,
    /// The member's country.
    pub country: String,
    /// When the snapshot was taken, RFC 3339.
    pub created_at: String,
    /// Key-value pairs in `store.bin`.
    pub pairs: u64,
    /// BLAKE3 of `store.bin`, hex.
    pub store_blake3: String,
    /// Raw scan files included (0 when scans live in an object store).
    pub blobs: u64,
}

/// Writes a backup of `store` (and of the key, token and `blobs` folder in `data_dir`) to
/// `out`. Blocks; the store's writers wait while its keyspaces are read.
pub fn write_backup(
    store: &Store,
    data_dir: &Path,
    blobs: Option<&Path>,
    country: &str,
    out: &Path,
) -> Result<Manifest, BackupError> {
    let file = File::create(out).map_err(io(out))?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    // The database is stored, not deflated: compressing would keep writers waiting longer.
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(true);
    zip.start_file(STORE_ENTRY, stored)?;
    let (pairs, hash) = write_pairs(store, &mut zip)?;
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for name in [KEY_FILE, TOKEN_FILE] {
        let path = data_dir.join(name);
        zip.start_file(name, deflated)?;
        std::io::copy(&mut File::open(&path).map_err(io(&path))?, &mut zip).map_err(io(&path))?;
    }
    let blob_count = match blobs {
        Some(folder) if folder.is_dir() => add_folder(&mut zip, folder, "blobs", deflated)?,
        _ => 0,
    };
    let manifest = Manifest {
        format: FORMAT.to_string(),
        version: VERSION,
        country: country.to_string(),
        created_at: crate::notices::rfc3339(striae_protocol::time::now_ms()),
        pairs,
        store_blake3: hash.to_hex().to_string(),
        blobs: blob_count,
    };
    zip.start_file(MANIFEST, deflated)?;
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    zip.write_all(&text).map_err(io(out))?;
    let mut inner = zip.finish()?;
    inner.flush().map_err(io(out))?;
    inner.get_ref().sync_all().map_err(io(out))?;
    Ok(manifest)
}

/// Streams every pair as `name_len u16 | name | key_len u32 | key | value_len u32 | value`
/// (little-endian), hashing as it goes.
fn write_pairs(store: &Store, out: &mut impl Write) -> Result<(u64, blake3::Hash), BackupError> {
    let mut hasher = blake3::Hasher::new();
    let mut pairs = 0u64;
    let mut failure = None;
    store
        .snapshot(&mut |name, key, value| {
            let mut record = Vec::with_capacity(10 + name.len() + key.len() + value.len());
            record.extend_from_slice(&(name.len() as u16).to_le_bytes());
            record.extend_from_slice(name.as_bytes());
            record.extend_from_slice(&(key.len() as u32).to_le_bytes());
            record.extend_from_slice(key);
            record.extend_from_slice(&(value.len() as u32).to_le_bytes());
            record.extend_from_slice(value);
            hasher.update(&record);
            pairs += 1;
            out.write_all(&record).map_err(|e| {
                failure = Some(e);
                StoreError::corrupt("backup", "the backup file could not be written")
            })
        })
        .map_err(|e| match failure.take() {
            Some(source) => BackupError::Io {
                path: PathBuf::from(STORE_ENTRY),
                source,
            },
            None => e.into(),
        })?;
    Ok((pairs, hasher.finalize()))
}

/// Adds every file under `folder` as `prefix/<relative path>`; how many.
fn add_folder<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    folder: &Path,
    prefix: &str,
    options: SimpleFileOptions,
) -> Result<u64, BackupError> {
    let mut count = 0;
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for item in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = item.map_err(io(&dir))?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(folder) else {
                continue;
            };
            let name = format!("{prefix}/{}", relative.to_string_lossy());
            // A scan removed while the backup runs was retracted: it is not needed.
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            zip.start_file(name, options)?;
            std::io::copy(&mut file, zip).map_err(io(&path))?;
            count += 1;
        }
    }
    Ok(count)
}

/// Restores the backup at `from` into `data_dir` (its database under `db`, the scans under
/// `blobs` when given). The node must be stopped. With `force`, an existing database is moved
/// aside (to `db.replaced-<time>`) rather than refused.
pub fn restore_backup(
    from: &Path,
    data_dir: &Path,
    blobs: Option<&Path>,
    force: bool,
) -> Result<Manifest, BackupError> {
    let file = File::open(from).map_err(io(from))?;
    let mut zip = ZipArchive::new(BufReader::new(file))?;
    let manifest = read_manifest(&mut zip)?;
    let db_dir = data_dir.join("db");
    make_room(&db_dir, force)?;
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    crate::store::private_folder(data_dir).map_err(io(data_dir))?;
    let store = Store::open(&db_dir)?;
    let (pairs, hash) = read_pairs(&mut zip, &store)?;
    store.flush_blocking()?;
    if pairs != manifest.pairs || hash.to_hex().as_str() != manifest.store_blake3 {
        return Err(BackupError::Format(format!(
            "the database in the file does not match its manifest ({pairs} pairs read, {} \
             announced): the file is damaged",
            manifest.pairs
        )));
    }
    for name in [KEY_FILE, TOKEN_FILE] {
        let path = data_dir.join(name);
        let mut entry = zip.by_name(name)?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(io(&path))?;
        write_private_file(&path, &bytes).map_err(io(&path))?;
    }
    if let Some(folder) = blobs {
        restore_folder(&mut zip, "blobs/", folder)?;
    }
    Ok(manifest)
}

fn read_manifest<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<Manifest, BackupError> {
    let entry = zip
        .by_name(MANIFEST)
        .map_err(|_| BackupError::Format("no manifest.json".into()))?;
    let manifest: Manifest = serde_json::from_reader(entry.take(1 << 20))
        .map_err(|e| BackupError::Format(format!("manifest.json: {e}")))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(BackupError::Format(format!(
            "{} version {}, this build reads {FORMAT} version {VERSION}",
            manifest.format, manifest.version
        )));
    }
    Ok(manifest)
}

/// Refuses a data dir whose database holds anything, or moves it aside with `force`.
fn make_room(db_dir: &Path, force: bool) -> Result<(), BackupError> {
    let occupied = std::fs::read_dir(db_dir).is_ok_and(|mut d| d.next().is_some());
    if !occupied {
        return Ok(());
    }
    if !force {
        return Err(BackupError::Occupied(db_dir.to_path_buf()));
    }
    let aside = db_dir.with_extension(format!("replaced-{}", striae_protocol::time::now_ms()));
    std::fs::rename(db_dir, &aside).map_err(io(db_dir))
}

fn read_pairs<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    store: &Store,
) -> Result<(u64, blake3::Hash), BackupError> {
    let entry = zip
        .by_name(STORE_ENTRY)
        .map_err(|_| BackupError::Format("no store.bin".into()))?;
    let mut reader = HashingReader {
        inner: BufReader::new(entry),
        hasher: blake3::Hasher::new(),
    };
    let mut pairs = 0u64;
    let mut keyspaces = std::collections::HashMap::new();
    while let Some(name_len) = read_len::<2>(&mut reader)? {
        if name_len > MAX_NAME as u32 {
            return Err(BackupError::Format("a keyspace name is too long".into()));
        }
        let name = String::from_utf8(read_bytes(&mut reader, name_len)?)
            .map_err(|_| BackupError::Format("a keyspace name is not UTF-8".into()))?;
        let key_len = read_len::<4>(&mut reader)?.ok_or_else(truncated)?;
        let key = read_bytes(&mut reader, key_len)?;
        let value_len = read_len::<4>(&mut reader)?.ok_or_else(truncated)?;
        let value = read_bytes(&mut reader, value_len)?;
        if !keyspaces.contains_key(&name) {
            keyspaces.insert(name.clone(), store.keyspace(&name)?);
        }
        if let Some(keyspace) = keyspaces.get(&name) {
            keyspace.insert(key, value)?;
        }
        pairs += 1;
    }
    Ok((pairs, reader.hasher.finalize()))
}

fn truncated() -> BackupError {
    BackupError::Format("store.bin ends in the middle of a pair".into())
}

/// A little-endian length of `N` bytes, or `None` at a clean end of the entry.
fn read_len<const N: usize>(reader: &mut impl Read) -> Result<Option<u32>, BackupError> {
    let mut bytes = [0u8; 4];
    let mut read = 0;
    while read < N {
        let n = reader
            .read(&mut bytes[read..N])
            .map_err(io(Path::new(STORE_ENTRY)))?;
        if n == 0 {
            return if read == 0 {
                Ok(None)
            } else {
                Err(truncated())
            };
        }
        read += n;
    }
    Ok(Some(u32::from_le_bytes(bytes)))
}

fn read_bytes(reader: &mut impl Read, len: u32) -> Result<Vec<u8>, BackupError> {
    if len > MAX_VALUE {
        return Err(BackupError::Format("a value is larger than 1 GiB".into()));
    }
    let mut bytes = Vec::new();
    reader
        .take(u64::from(len))
        .read_to_end(&mut bytes)
        .map_err(io(Path::new(STORE_ENTRY)))?;
    if bytes.len() != len as usize {
        return Err(truncated());
    }
    Ok(bytes)
}

/// Writes every entry under `prefix` into `folder`, refusing names that would leave it.
fn restore_folder<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    prefix: &str,
    folder: &Path,
) -> Result<(), BackupError> {
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let Some(relative) = entry.name().strip_prefix(prefix).map(str::to_string) else {
            continue;
        };
        let Some(safe) = entry.enclosed_name().and_then(|p| {
            p.strip_prefix(prefix.trim_end_matches('/'))
                .ok()
                .map(Path::to_path_buf)
        }) else {
            return Err(BackupError::Format(format!(
                "the entry {relative} would be written outside the scans folder"
            )));
        };
        let path = folder.join(safe);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = File::create(&path).map_err(io(&path))?;
        std::io::copy(&mut entry, &mut out).map_err(io(&path))?;
    }
    Ok(())
}

/// Writes `contents` to `path` (replacing it), readable by its owner only.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

struct HashingReader<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir_with_key(dir: &Path) {
        std::fs::create_dir_all(dir).expect("data dir");
        std::fs::write(dir.join(KEY_FILE), b"key bytes").expect("key");
        std::fs::write(dir.join(TOKEN_FILE), b"token").expect("token");
    }

    #[test]
    fn a_backup_restores_every_pair_the_key_and_the_scans() {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let source = tmp.path().join("source");
        data_dir_with_key(&source);
        let scans = source.join("blobs");
        std::fs::create_dir_all(scans.join("ab")).expect("scans");
        std::fs::write(scans.join("ab").join("cd"), b"x3p bytes").expect("scan");
        let store = Store::open(&source.join("db")).expect("store");
        let records = store.keyspace("records").expect("keyspace");
        for n in 0u32..500 {
            records
                .insert(n.to_be_bytes(), vec![n as u8; 100])
                .expect("insert");
        }
        let file = tmp.path().join("backup.zip");
        let manifest = write_backup(&store, &source, Some(&scans), "DE", &file).expect("backup");
        assert!(manifest.pairs >= 500, "{manifest:?}");
        assert_eq!(manifest.blobs, 1);

        let target = tmp.path().join("target");
        let restored_scans = target.join("blobs");
        let back = restore_backup(&file, &target, Some(&restored_scans), false).expect("restore");
        assert_eq!(back, manifest);
        assert_eq!(
            std::fs::read(target.join(KEY_FILE)).expect("key"),
            b"key bytes"
        );
        assert_eq!(
            std::fs::read(restored_scans.join("ab").join("cd")).expect("scan"),
            b"x3p bytes"
        );
        let again = Store::open(&target.join("db")).expect("restored store");
        let records = again.keyspace("records").expect("keyspace");
        assert_eq!(records.count(), 500);
        assert_eq!(
            records.get(7u32.to_be_bytes()).expect("read"),
            Some(vec![7u8; 100])
        );
        drop(again);

        let refused = restore_backup(&file, &target, None, false).unwrap_err();
        assert!(matches!(refused, BackupError::Occupied(_)), "{refused}");
        restore_backup(&file, &target, None, true).expect("forced restore");
    }

    #[test]
    fn a_damaged_backup_is_refused() {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let file = tmp.path().join("not-a-backup.zip");
        std::fs::write(&file, b"PK\x03\x04 garbage").expect("write");
        let refused = restore_backup(&file, &tmp.path().join("t"), None, false).unwrap_err();
        assert!(matches!(refused, BackupError::Zip(_)), "{refused}");
    }
}
