//! Test and benchmark harness: networks of real members in one process, on loopback TCP, each
//! with its own data dir and API, plus helpers to drive them through the HTTP API.

pub mod fuzz_targets;
pub mod sim;

use std::{
    future::Future,
    path::PathBuf,
    time::{Duration, Instant},
};

use serde_json::Value;
use striae_node::{
    config::NodeConfig,
    devnet::{self, MemberLine},
    node::{self, RunningNode},
};

/// Free TCP ports on 127.0.0.1, found by binding port 0.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A network of members in this process.
pub struct TestNet {
    /// Where configs and data live (removed on drop).
    pub dir: tempfile::TempDir,
    /// The members as `devnet init` describes them.
    pub members: Vec<MemberLine>,
    /// Running members (`None` while stopped).
    pub nodes: Vec<Option<RunningNode>>,
    /// Changes applied to every config before start.
    pub tune: fn(&mut NodeConfig),
    http: reqwest::Client,
}

/// Faster timings for tests: heads every 2 s, redial from 200 ms.
pub fn fast(config: &mut NodeConfig) {
    config.tuning.heads_interval = Duration::from_secs(2);
    config.tuning.heads_debounce = Duration::from_millis(100);
    config.tuning.redial_min = Duration::from_millis(200);
    config.tuning.redial_max = Duration::from_secs(2);
    config.tuning.gossip_heartbeat = Duration::from_millis(300);
}

impl TestNet {
    /// Writes configs for `n` members without starting them.
    pub fn create(n: usize) -> Self {
        init_logging();
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(2 * n);
        let members = devnet::init_with_ports(dir.path(), n, |i| (ports[2 * i], ports[2 * i + 1]))
            .expect("devnet init");
        TestNet {
            dir,
            nodes: (0..n).map(|_| None).collect(),
            members,
            tune: fast,
            http: reqwest::Client::new(),
        }
    }

    /// Writes configs for `n` members and starts them all.
    pub async fn start(n: usize) -> Self {
        let mut net = Self::create(n);
        for i in 0..n {
            net.start_member(i).await;
        }
        net
    }

    /// The config of member `i`, as tuned.
    pub fn config(&self, i: usize) -> NodeConfig {
        let mut config = NodeConfig::load(&self.members[i].config).expect("load config");
        (self.tune)(&mut config);
        config
    }

    /// Starts (or restarts) member `i`.
    pub async fn start_member(&mut self, i: usize) {
        let running = node::start(self.config(i)).await.expect("start member");
        self.nodes[i] = Some(running);
    }

    /// Stops member `i` gracefully.
    pub async fn stop_member(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.shutdown().await;
        }
    }

    /// The running member `i`.
    pub fn node(&self, i: usize) -> &RunningNode {
        self.nodes[i].as_ref().expect("member is running")
    }

    /// The folder of member `i`.
    pub fn member_dir(&self, i: usize) -> PathBuf {
        self.members[i]
            .config
            .parent()
            .expect("config has a folder")
            .to_path_buf()
    }

    fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.node(i).api_addr)
    }

    /// `GET path` on member `i` with its token: the body as text (metrics, HTML).
    pub async fn get_text(&self, i: usize, path: &str) -> String {
        self.http
            .get(self.url(i, path))
            .bearer_auth(&self.members[i].token)
            .send()
            .await
            .expect("API reachable")
            .text()
            .await
            .expect("body")
    }

    /// `GET path` on member `i`: status code and JSON body.
    pub async fn get(&self, i: usize, path: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(i, path)), i).await
    }

    /// `POST path` with JSON on member `i`.
    pub async fn post(&self, i: usize, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.post(self.url(i, path)).json(body), i)
            .await
    }

    /// `PATCH path` with JSON on member `i`.
    pub async fn patch(&self, i: usize, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.patch(self.url(i, path)).json(body), i)
            .await
    }

    /// Sends a prepared request with member `i`'s token.
    pub async fn send(&self, builder: reqwest::RequestBuilder, i: usize) -> (u16, Value) {
        let r = builder
            .bearer_auth(&self.members[i].token)
            .send()
            .await
            .expect("API reachable");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Stops every member.
    pub async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            self.stop_member(i).await;
        }
    }
}

/// Polls `check` every 50 ms until it is true or `timeout` passes; returns whether it became
/// true.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every running member of `net` is connected to every other running member.
pub async fn wait_connected(net: &TestNet, timeout: Duration) -> bool {
    let running: Vec<usize> = (0..net.nodes.len())
        .filter(|i| net.nodes[*i].is_some())
        .collect();
    let want = running.len() - 1;
    eventually(timeout, || async {
        for &i in &running {
            let peers = net.node(i).handle.net.peers().await.unwrap_or_default();
            if peers.iter().filter(|p| p.connected).count() < want {
                return false;
            }
        }
        true
    })
    .await
}
