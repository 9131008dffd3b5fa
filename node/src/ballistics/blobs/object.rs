//! Blobs in an object store (S3, MinIO, Ceph or any S3-compatible store), through the
//! `object_store` crate: blob `abcd...` is the object `prefix/ab/cd/abcd...`. An S3 PUT is
//! atomic (an object is visible whole or not at all, never half-written), so no temporary
//! object is needed; a read is checked against the blob's name like a file's. Every request
//! has a timeout and a bounded number of retries, so an object store that is down gives an
//! error within a bounded time, never a hang.

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, future::BoxFuture};
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    path::Path,
};

use super::{BlobError, BlobStore, MAX_BLOB_BYTES, check_name, name_of};
use crate::config::S3Blobs;

/// Retries of a failed request (connection refused, 5xx, timeout) before giving up.
const MAX_RETRIES: usize = 2;

/// Blobs as objects under a prefix of an object store.
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// The key prefix, without slashes at either end (empty: the bucket's root).
    prefix: String,
    /// `s3://bucket/prefix`, for errors.
    label: String,
    /// The longest one operation may take, retries included; a last guard over the client's
    /// own timeouts.
    deadline: Duration,
}

impl ObjectBlobStore {
    /// An S3 store as the config says, with the rest (credentials, and endpoint, region and
    /// `AWS_ALLOW_HTTP` where the config is silent) from the environment.
    pub fn s3(config: &S3Blobs) -> Result<Self, BlobError> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(allow) = config.allow_http {
            builder = builder.with_allow_http(allow);
        }
        if let Some(keys) = &config.credentials {
            builder = builder
                .with_access_key_id(&keys.access_key_id)
                .with_secret_access_key(&keys.secret_access_key);
        }
        let timeout = config.timeout;
        let connect = timeout.min(Duration::from_secs(10));
        let client = |key| AmazonS3ConfigKey::Client(key);
        let builder = builder
            .with_config(
                client(ClientConfigKey::Timeout),
                humantime::format_duration(timeout).to_string(),
            )
            .with_config(
                client(ClientConfigKey::ConnectTimeout),
                humantime::format_duration(connect).to_string(),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: MAX_RETRIES,
                retry_timeout: timeout,
            });
        let label = config.url();
        let store = builder.build().map_err(|source| BlobError::Setup {
            store: label.clone(),
            source,
        })?;
        // Each try may take `timeout`, and the backoff between tries is at most 2 s.
        let tries = u32::try_from(MAX_RETRIES + 1).unwrap_or(u32::MAX);
        let deadline = timeout * tries + Duration::from_secs(2) * tries;
        Ok(Self::new(Arc::new(store), &config.prefix, label, deadline))
    }

    /// Blobs under `prefix` of any object store; `label` names it in errors, `deadline`
    /// bounds each operation.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        label: String,
        deadline: Duration,
    ) -> Self {
        ObjectBlobStore {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            label,
            deadline,
        }
    }

    /// The object key of a blob: `prefix/ab/cd/<name>`.
    pub fn key_of(&self, name: &str) -> Result<Path, BlobError> {
        check_name(name)?;
        let fanned = format!("{}/{}/{name}", &name[..2], &name[2..4]);
        Ok(Path::from(if self.prefix.is_empty() {
            fanned
        } else {
            format!("{}/{fanned}", self.prefix)
        }))
    }

    fn fail(&self, source: object_store::Error) -> BlobError {
        let store = self.label.clone();
        match source {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => BlobError::Denied { store, source },
            source => BlobError::Unavailable { store, source },
        }
    }

    /// Runs one operation within the deadline.
    async fn bounded<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = Result<T, BlobError>>,
    ) -> Result<T, BlobError> {
        match tokio::time::timeout(self.deadline, op).await {
            Ok(out) => out,
            Err(_) => Err(BlobError::Unavailable {
                store: self.label.clone(),
                source: object_store::Error::Generic {
                    store: "S3",
                    source: format!("{what} took over {:?}", self.deadline).into(),
                },
            }),
        }
    }

    async fn put_inner(&self, bytes: Vec<u8>) -> Result<String, BlobError> {
        let (bytes, name) = name_of(bytes).await?;
        let key = self.key_of(&name)?;
        // Content addressing: an object of this name and size already holds these bytes
        // (a different size means a damaged object, which is replaced).
        match self.store.head(&key).await {
            Ok(meta) if meta.size == bytes.len() as u64 => return Ok(name),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.fail(e)),
        }
        self.store
            .put(&key, PutPayload::from(bytes))
            .await
            .map_err(|e| self.fail(e))?;
        Ok(name)
    }

    async fn get_inner(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let key = self.key_of(name)?;
        let found = match self.store.get(&key).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        };
        let too_large = |size| BlobError::TooLarge {
            name: name.to_string(),
            size,
        };
        if found.meta.size > MAX_BLOB_BYTES {
            return Err(too_large(found.meta.size));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(found.meta.size).unwrap_or(0));
        let mut stream = found.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.fail(e))?;
            let size = (bytes.len() + chunk.len()) as u64;
            if size > MAX_BLOB_BYTES {
                return Err(too_large(size));
            }
            bytes.extend_from_slice(&chunk);
        }
        let (bytes, actual) = name_of(bytes).await?;
        if actual != name {
            return Err(BlobError::Corrupt(name.to_string()));
        }
        Ok(Some(bytes))
    }
}

impl BlobStore for ObjectBlobStore {
    fn backend(&self) -> &'static str {
        "s3"
    }

    fn put(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<String, BlobError>> {
        Box::pin(self.bounded("put", self.put_inner(bytes)))
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, BlobError>> {
        Box::pin(self.bounded("get", self.get_inner(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_fan_out_under_the_prefix() {
        let store = Arc::new(object_store::memory::InMemory::new());
        let name = blake3::hash(b"x").to_hex().to_string();
        let with = ObjectBlobStore::new(store.clone(), "/scans/fr/", "m".into(), Duration::MAX);
        let key = with.key_of(&name).unwrap();
        assert_eq!(
            key.as_ref(),
            format!("scans/fr/{}/{}/{name}", &name[..2], &name[2..4])
        );
        let bare = ObjectBlobStore::new(store, "", "m".into(), Duration::MAX);
        assert_eq!(
            bare.key_of(&name).unwrap().as_ref(),
            format!("{}/{}/{name}", &name[..2], &name[2..4])
        );
        assert!(matches!(
            bare.key_of("ab/../cd"),
            Err(BlobError::BadName(_))
        ));
    }

    #[tokio::test]
    async fn an_in_memory_store_keeps_the_blob_semantics() {
        let memory = Arc::new(object_store::memory::InMemory::new());
        let store = ObjectBlobStore::new(memory.clone(), "p", "mem".into(), Duration::from_secs(5));
        let name = store.put(b"scan".to_vec()).await.unwrap();
        assert_eq!(store.put(b"scan".to_vec()).await.unwrap(), name);
        assert_eq!(store.get(&name).await.unwrap().unwrap(), b"scan");
        let absent = blake3::hash(b"absent").to_hex().to_string();
        assert!(store.get(&absent).await.unwrap().is_none());
        let key = store.key_of(&name).unwrap();
        memory
            .put(&key, PutPayload::from(b"scam".to_vec()))
            .await
            .unwrap();
        assert!(matches!(store.get(&name).await, Err(BlobError::Corrupt(_))));
        // Same size, so not healed by a put; a different size is replaced.
        memory
            .put(&key, PutPayload::from(b"sc".to_vec()))
            .await
            .unwrap();
        assert_eq!(store.put(b"scan".to_vec()).await.unwrap(), name);
        assert_eq!(store.get(&name).await.unwrap().unwrap(), b"scan");
    }
}
