//! The narrow key-value interface the node stores everything through: named keyspaces of
//! ordered byte keys, typed get/put/delete/scan, and one `flush` that makes every write so far
//! durable. `SledStore` is the one used in production, `MemoryStore` the one unit tests and
//! the simulator use; nothing outside `store/` names either backend's own types.

use std::{
    ops::{Bound, RangeBounds},
    sync::Arc,
};

use futures::future::BoxFuture;

use super::StoreError;

/// A key and its value, as read back.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// Key-value pairs in key order (reversible, for "the last key below").
pub type KvIter = Box<dyn DoubleEndedIterator<Item = Result<KvPair, StoreError>> + Send>;

/// A database of named keyspaces.
pub trait KeyValueStore: Send + Sync {
    /// The keyspace called `name`, created empty when it does not exist yet.
    fn keyspace(&self, name: &str) -> Result<Keyspace, StoreError>;

    /// Makes every write so far durable, blocking the thread until it is.
    fn flush(&self) -> Result<(), StoreError>;

    /// Makes every write so far durable without blocking the async runtime.
    fn flush_async(&self) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Shows `visit` every pair of every keyspace (keyspace name, key, value) as of one
    /// moment: writes wait until it returns, so what it sees is one consistent state (a
    /// backup). Blocks the thread.
    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError>;
}

/// What `KeyValueStore::snapshot` calls with each pair.
pub type SnapshotVisitor<'a> = dyn FnMut(&str, &[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// One backend's keyspace. Writes are atomic per key and visible to readers at once; none is
/// durable before the store's next `flush`.
pub trait KeyspaceBackend: Send + Sync {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` under `key`, replacing any value there.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Stores `value` under `key` only if the key holds nothing; whether it did.
    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool, StoreError>;
    /// Removes `key` (nothing happens when it is absent).
    fn delete(&self, key: &[u8]) -> Result<(), StoreError>;
    /// The pairs whose keys lie between the bounds, in key order.
    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter;
    /// How many keys it holds (may walk the whole keyspace).
    fn count(&self) -> usize;
}

/// A keyspace handle: cheap to clone, shared by everything that reads or writes it.
#[derive(Clone)]
pub struct Keyspace {
    name: Arc<str>,
    backend: Arc<dyn KeyspaceBackend>,
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.name)
            .finish()
    }
}

impl Keyspace {
    /// A handle for a backend's keyspace called `name`.
    pub fn new(name: &str, backend: Arc<dyn KeyspaceBackend>) -> Self {
        Keyspace {
            name: name.into(),
            backend,
        }
    }

    /// The keyspace's name (for error messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value under `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(key.as_ref())
    }

    /// Stores `value` under `key`.
    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), StoreError> {
        self.backend.put(key.as_ref(), value.as_ref())
    }

    /// Stores `value` under `key` unless the key already holds a value; whether it stored.
    pub fn insert_if_absent(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<bool, StoreError> {
        self.backend.put_if_absent(key.as_ref(), value.as_ref())
    }

    /// Removes `key`.
    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), StoreError> {
        self.backend.delete(key.as_ref())
    }

    /// Whether `key` holds a value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        Ok(self.get(key)?.is_some())
    }

    /// Every pair, in key order.
    pub fn iter(&self) -> KvIter {
        self.backend.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// The pairs whose keys lie in `range`, in key order.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> KvIter {
        let own = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
            Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.backend
            .range(own(range.start_bound()), own(range.end_bound()))
    }

    /// The pairs whose keys start with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> KvIter {
        let prefix = prefix.as_ref().to_vec();
        let end = prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        self.backend.range(Bound::Included(prefix), end)
    }

    /// The pair with the smallest key.
    pub fn first(&self) -> Result<Option<KvPair>, StoreError> {
        self.iter().next().transpose()
    }

    /// The pair with the largest key.
    pub fn last(&self) -> Result<Option<KvPair>, StoreError> {
        self.iter().next_back().transpose()
    }

    /// How many keys it holds. Walks the whole keyspace on disk: not for hot paths.
    pub fn count(&self) -> usize {
        self.backend.count()
    }

    /// Whether the keyspace holds nothing.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.first()?.is_none())
    }
}

/// The smallest key greater than every key that starts with `prefix` (none when the prefix is
/// all 0xff bytes or empty).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, SledStore};

    fn exercise(store: &dyn KeyValueStore) {
        let ks = store.keyspace("t").expect("keyspace");
        assert!(ks.is_empty().expect("read"));
        for (k, v) in [
            (&b"a1"[..], &b"1"[..]),
            (b"a2", b"2"),
            (b"b", b"3"),
            (b"a\xff", b"4"),
        ] {
            ks.insert(k, v).expect("write");
        }
        assert_eq!(ks.get(b"a2").expect("read"), Some(b"2".to_vec()));
        let keys = |it: KvIter| -> Vec<Vec<u8>> { it.map(|p| p.expect("read").0).collect() };
        assert_eq!(
            keys(ks.scan_prefix(b"a")),
            vec![b"a1".to_vec(), b"a2".to_vec(), b"a\xff".to_vec()]
        );
        assert_eq!(
            keys(ks.range(&b"a2"[..]..&b"b"[..])),
            vec![b"a2".to_vec(), b"a\xff".to_vec()]
        );
        assert_eq!(ks.last().expect("read").map(|p| p.0), Some(b"b".to_vec()));
        assert_eq!(ks.first().expect("read").map(|p| p.0), Some(b"a1".to_vec()));
        assert!(!ks.insert_if_absent(b"b", b"x").expect("write"));
        assert!(ks.insert_if_absent(b"c", b"x").expect("write"));
        assert_eq!(ks.get(b"b").expect("read"), Some(b"3".to_vec()));
        ks.remove(b"a1").expect("write");
        assert!(!ks.contains_key(b"a1").expect("read"));
        let back: Vec<_> = ks.iter().rev().map(|p| p.expect("read").0).collect();
        assert_eq!(back.first(), Some(&b"c".to_vec()));
        store.flush().expect("flush");
        let again = store.keyspace("t").expect("keyspace");
        assert_eq!(again.get(b"c").expect("read"), Some(b"x".to_vec()));
        assert!(
            store
                .keyspace("other")
                .expect("keyspace")
                .is_empty()
                .expect("read")
        );
    }

    #[test]
    fn both_backends_keep_keys_in_order_and_answer_alike() {
        exercise(&MemoryStore::default());
        let dir = tempfile::tempdir().expect("test fixture");
        exercise(&SledStore::open(dir.path()).expect("open"));
    }

    #[test]
    fn prefix_end_skips_trailing_max_bytes() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
