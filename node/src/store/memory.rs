//! An in-memory backend for unit tests and the simulator: ordered maps behind locks, nothing
//! on disk, `flush` a no-op.

use std::{
    collections::{BTreeMap, HashMap},
    ops::Bound,
    sync::{Arc, Mutex, RwLock},
};

use futures::future::BoxFuture;

use super::{
    StoreError,
    kv::{KeyValueStore, Keyspace, KeyspaceBackend, KvIter, KvPair, SnapshotVisitor},
};

/// A database held in memory; clones share it.
#[derive(Clone, Default)]
pub struct MemoryStore {
    keyspaces: Arc<Mutex<HashMap<String, Arc<MemoryKeyspace>>>>,
}

impl KeyValueStore for MemoryStore {
    fn keyspace(&self, name: &str) -> Result<Keyspace, StoreError> {
        let mut keyspaces = self.keyspaces.lock().unwrap_or_else(|p| p.into_inner());
        let backend = keyspaces.entry(name.to_string()).or_default().clone();
        Ok(Keyspace::new(name, backend))
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn flush_async(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError> {
        let keyspaces = self.keyspaces.lock().unwrap_or_else(|p| p.into_inner());
        let mut named: Vec<_> = keyspaces.iter().collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        // Every keyspace read-locked at once: no write anywhere until the walk ends.
        let maps: Vec<_> = named.iter().map(|(name, ks)| (name, read(&ks.0))).collect();
        for (name, map) in &maps {
            for (key, value) in map.iter() {
                visit(name, key, value)?;
            }
        }
        Ok(())
    }
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Default)]
struct MemoryKeyspace(Arc<RwLock<Map>>);

fn read(map: &RwLock<Map>) -> std::sync::RwLockReadGuard<'_, Map> {
    map.read().unwrap_or_else(|p| p.into_inner())
}

impl MemoryKeyspace {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Map> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyspaceBackend for MemoryKeyspace {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(read(&self.0).get(key).cloned())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write().insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        let mut map = self.write();
        if map.contains_key(key) {
            return Ok(false);
        }
        map.insert(key.to_vec(), value.to_vec());
        Ok(true)
    }

    fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.write().remove(key);
        Ok(())
    }

    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter {
        Box::new(Cursor {
            map: self.0.clone(),
            front: from,
            back: to,
        })
    }

    fn count(&self) -> usize {
        read(&self.0).len()
    }
}

/// A lazy walk over a range: each step looks the next key up afresh (O(log n)), so an
/// iterator holds no lock and sees writes made after it was created, as sled's does.
struct Cursor {
    map: Arc<RwLock<Map>>,
    front: Bound<Vec<u8>>,
    back: Bound<Vec<u8>>,
}

impl Cursor {
    /// Whether the remaining range is empty (`BTreeMap::range` panics on inverted bounds).
    fn exhausted(&self) -> bool {
        match (&self.front, &self.back) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a >= b
            }
            _ => false,
        }
    }
}

impl Iterator for Cursor {
    type Item = Result<KvPair, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.exhausted() {
            return None;
        }
        let (k, v) = {
            let map = read(&self.map);
            let (k, v) = map.range((self.front.clone(), self.back.clone())).next()?;
            (k.clone(), v.clone())
        };
        self.front = Bound::Excluded(k.clone());
        Some(Ok((k, v)))
    }
}

impl DoubleEndedIterator for Cursor {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.exhausted() {
            return None;
        }
        let (k, v) = {
            let map = read(&self.map);
            let (k, v) = map
                .range((self.front.clone(), self.back.clone()))
                .next_back()?;
            (k.clone(), v.clone())
        };
        self.back = Bound::Excluded(k.clone());
        Some(Ok((k, v)))
    }
}
