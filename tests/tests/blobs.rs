//! The blob store on a real S3-protocol server: `s3s-fs` (an S3 server over a folder) runs in
//! the test process on 127.0.0.1, signing checked, so the node's S3 backend speaks real S3 over
//! HTTP. The backend keeps the blob semantics (content addressing, idempotent puts, hash
//! checks on read, typed errors for bad names, wrong keys and a store that is down, within a
//! bounded time), and members configured with `[blobs] url = "s3://..."` add exhibits whose raw
//! scans land in the bucket, show their pictures and confirm a search at the holder, and an
//! add fails with a 503 (counted in `/metrics`) once the bucket is out of reach.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::TryStreamExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder as ConnBuilder,
};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, aws::AmazonS3Builder, path::Path};
use serde_json::Value;
use striae_ballistics_lib::{
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::write_x3p,
};
use striae_node::{
    ballistics::{BlobError, BlobStore, ObjectBlobStore},
    config::{BlobsConfig, S3Blobs, S3Credentials},
    node,
};
use striae_tests::{TestNet, wait_connected};

const BUCKET: &str = "bureau-scans";
const KEY: &str = "test-access-key";
const SECRET: &str = "test-secret-key";
const WAIT: Duration = Duration::from_secs(60);

/// An S3 server over a temporary folder, on a free loopback port; `stop` closes its listener
/// and every open connection, and so does dropping it.
struct S3Server {
    addr: SocketAddr,
    _root: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(KEY, SECRET));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                    _ = &mut stopped => break,
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                connections.spawn(async move {
                    let _ = conn.await;
                });
                while connections.try_join_next().is_some() {}
            }
            // Stopped: no more connections accepted, and every open one (the client's
            // pooled keep-alive connections) closed before `stop` returns.
            drop(listener);
            connections.shutdown().await;
        });
        S3Server {
            addr,
            _root: root,
            stop: Some(stop),
            task,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The node's view of this server: bucket, `prefix`, explicit endpoint and keys.
    fn config(&self, prefix: &str, secret: &str, timeout: Duration) -> S3Blobs {
        S3Blobs {
            bucket: BUCKET.into(),
            prefix: prefix.into(),
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            allow_http: Some(true),
            timeout,
            credentials: Some(S3Credentials {
                access_key_id: KEY.into(),
                secret_access_key: secret.into(),
            }),
        }
    }

    /// A plain S3 client of the bucket, to look at and tamper with what the node stored.
    fn client(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(BUCKET)
                .with_endpoint(self.endpoint())
                .with_region("us-east-1")
                .with_allow_http(true)
                .with_access_key_id(KEY)
                .with_secret_access_key(SECRET)
                .build()
                .unwrap(),
        )
    }

    /// Every key under `prefix`, by an S3 listing.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let prefix = Path::from(prefix);
        let mut keys: Vec<String> = self
            .client()
            .list(Some(&prefix))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    /// Stops the server and waits until its listener and connections are closed.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fanned(prefix: &str, name: &str) -> String {
    format!("{prefix}/{}/{}/{name}", &name[..2], &name[2..4])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_on_s3_round_trip_and_detect_tampering() {
    let server = S3Server::start().await;
    let store = ObjectBlobStore::s3(&server.config("scans/fr", SECRET, Duration::from_secs(5)))
        .expect("the S3 backend is set up");

    let name = store.put(b"scan bytes".to_vec()).await.unwrap();
    assert_eq!(name, blake3::hash(b"scan bytes").to_hex().as_str());
    assert_eq!(store.put(b"scan bytes".to_vec()).await.unwrap(), name);
    assert_eq!(store.get(&name).await.unwrap().unwrap(), b"scan bytes");
    assert_eq!(server.keys("scans").await, vec![fanned("scans/fr", &name)]);

    let absent = blake3::hash(b"never stored").to_hex().to_string();
    assert!(store.get(&absent).await.unwrap().is_none());
    for bad in ["../../etc/passwd", "ABCD", &name[..63]] {
        assert!(
            matches!(store.get(bad).await, Err(BlobError::BadName(_))),
            "{bad}"
        );
    }

    // Overwritten behind the node's back: the read is refused, not served.
    let key = Path::from(fanned("scans/fr", &name));
    server
        .client()
        .put(&key, PutPayload::from(b"scan bytez".to_vec()))
        .await
        .unwrap();
    assert!(matches!(store.get(&name).await, Err(BlobError::Corrupt(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_and_a_store_that_is_down_give_typed_errors_in_bounded_time() {
    let mut server = S3Server::start().await;
    let wrong =
        ObjectBlobStore::s3(&server.config("p", "not-the-secret", Duration::from_secs(5))).unwrap();
    let err = wrong.put(b"scan".to_vec()).await.unwrap_err();
    assert!(matches!(err, BlobError::Denied { .. }), "{err}");
    let name = blake3::hash(b"scan").to_hex().to_string();
    let err = wrong.get(&name).await.unwrap_err();
    assert!(matches!(err, BlobError::Denied { .. }), "{err}");

    // The server goes away after a first put (the client holds a pooled connection).
    let timeout = Duration::from_secs(1);
    let store = ObjectBlobStore::s3(&server.config("p", SECRET, timeout)).unwrap();
    store.put(b"scan".to_vec()).await.unwrap();
    server.stop().await;
    let started = Instant::now();
    let err = store.get(&name).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = store.put(b"other scan".to_vec()).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // A server that accepts connections and never answers: the timeout ends the wait.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = server.config("p", SECRET, timeout);
    config.endpoint = Some(format!("http://{}", silent.local_addr().unwrap()));
    let hung = ObjectBlobStore::s3(&config).unwrap();
    let started = Instant::now();
    let err = hung.get(&name).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

fn scan(gun: u64, shot: u64) -> Vec<u8> {
    let params = SyntheticParams {
        size: 272,
        pixel_um: 12.5,
        ..SyntheticParams::default()
    };
    write_x3p(&synthetic_scan(3, gun, shot, &params))
}

async fn add(net: &TestNet, i: usize, bytes: Vec<u8>, case_ref: &str) -> (u16, Value) {
    let url = format!(
        "http://{}/v1/ballistics?kind=cartridge_case&caliber=9mm%20Luger&case_ref={case_ref}",
        net.node(i).api_addr
    );
    let builder = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(bytes);
    net.send(builder, i).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_keep_their_scans_on_s3_and_still_find_and_confirm() {
    let mut server = S3Server::start().await;
    let mut net = TestNet::create(2);
    for (i, prefix) in [(0, "nodes/fr"), (1, "nodes/de")] {
        let mut config = net.config(i);
        config.blobs = BlobsConfig::S3(server.config(prefix, SECRET, Duration::from_secs(2)));
        net.nodes[i] = Some(node::start(config).await.expect("member starts"));
    }
    assert!(wait_connected(&net, WAIT).await, "members did not connect");

    // DE holds the mate of FR's case; its raw scan lands in the bucket under DE's prefix.
    let (code, mate) = add(&net, 1, scan(1, 1), "DE-2024-0117").await;
    assert_eq!(code, 201, "{mate}");
    let mate_id = mate["id"].as_str().unwrap().to_string();
    let mate_blob = mate["blob"].as_str().unwrap().to_string();
    let (code, probe) = add(&net, 0, scan(1, 2), "FR-SHOOTING-1").await;
    assert_eq!(code, 201, "{probe}");
    let probe_id = probe["id"].as_str().unwrap().to_string();
    let probe_blob = probe["blob"].as_str().unwrap().to_string();
    assert_eq!(
        server.keys("nodes/de").await,
        vec![fanned("nodes/de", &mate_blob)]
    );
    assert_eq!(
        server.keys("nodes/fr").await,
        vec![fanned("nodes/fr", &probe_blob)]
    );
    let kept = net.node(1).handle.ballistics.ballistics.blob(&mate_blob);
    assert_eq!(kept.await.unwrap().unwrap(), scan(1, 1));
    // No file was written under the data dir.
    assert!(!net.member_dir(1).join("data/blobs").exists());

    // The exhibit's picture.
    let image = reqwest::Client::new()
        .get(format!(
            "http://{}/v1/ballistics/{mate_id}/image",
            net.node(1).api_addr
        ))
        .bearer_auth(&net.members[1].token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.status().as_u16(), 200);
    assert!(image.bytes().await.unwrap().starts_with(b"\x89PNG"));

    // FR searches with its stored probe; DE, the holder, confirms the mate.
    let path = format!("/v1/ballistics/{probe_id}/search?limit=5");
    let deadline = Instant::now() + WAIT;
    let found = loop {
        let (code, v) = net.post(0, &path, &Value::Null).await;
        if (code == 200 && v["candidates"][0]["confirmed"] == true) || Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(found["candidates"][0]["confirmed"], true, "{found}");
    assert_eq!(found["candidates"][0]["exhibit_ref"], mate_id.as_str());
    assert_eq!(found["candidates"][0]["country"], "DE");

    // The bucket goes away: adding an exhibit fails fast with a clear 503.
    server.stop().await;
    let started = Instant::now();
    let (code, err) = add(&net, 1, scan(2, 1), "DE-2024-0999").await;
    assert_eq!(code, 503, "{err}");
    assert_eq!(err["error"]["code"], "blob_store_unavailable", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("s3://bureau-scans/nodes/de"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let metrics = reqwest::Client::new()
        .get(format!("http://{}/metrics", net.node(1).api_addr))
        .bearer_auth(&net.members[1].token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("striae_blob_errors_total{backend=\"s3\",error=\"unavailable\"} 1"),
        "{metrics}"
    );
    net.shutdown().await;
}
