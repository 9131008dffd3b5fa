//! What the tests that run members as separate `striae` processes share: starting members
//! from `striae devnet init` as `striae run` processes (killed when the test ends), running
//! the `striae` command line against one, and waiting for a condition.

#![allow(dead_code, unreachable_pub)]

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

pub const STRIAE: &str = env!("CARGO_BIN_EXE_striae");

/// Member processes, killed when the test ends however it ends.
pub struct Members(pub Vec<Child>);

impl Drop for Members {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A member as `striae devnet init` prints it.
pub struct Member {
    pub api: String,
    pub token: String,
    /// Its `node.toml`.
    pub config: std::path::PathBuf,
}

/// Runs `striae ARGS --api .. --token .. --json` against `member`; its JSON output.
pub fn striae(member: &Member, args: &[&str]) -> Result<Value, String> {
    let output = Command::new(STRIAE)
        .args(args)
        .args(["--api", &member.api, "--token", &member.token, "--json"])
        .output()
        .map_err(|e| format!("cannot run striae: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "striae {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("striae {args:?} printed: {e}"))
}

/// A base port with `span` free ports from it.
pub fn free_base_port(span: u16) -> u16 {
    // Tests in one binary run side by side: each call starts further on, so that two members
    // started at once do not both find the same ports free.
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = 30_000 + (std::process::id() % 1_000) as u16 * 8 + call * 64;
    (start..60_000)
        .step_by(8)
        .find(|&base| {
            (base..base + span).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        })
        .unwrap_or(start)
}

/// Waits up to two minutes for `check`; panics naming `what` otherwise.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("timed out waiting for {what}");
}

/// Writes configs for `n` members in `dir`, starts each as a `striae run` process (logs in
/// `dir/memberI.log`), and waits until every member is connected to every other.
pub fn start(dir: &Path, n: usize) -> (Members, Vec<Member>) {
    start_with(dir, n, |_, _| {})
}

/// Like `start`, calling `configure(i, config_path)` on each member's `node.toml` before it
/// starts (to add a section such as `[traces]`).
pub fn start_with(
    dir: &Path,
    n: usize,
    configure: impl Fn(usize, &Path),
) -> (Members, Vec<Member>) {
    let init = Command::new(STRIAE)
        .args(["devnet", "init", "--nodes", &n.to_string(), "--base-port"])
        .arg(free_base_port(2 * n as u16).to_string())
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("striae devnet init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut processes = Members(Vec::new());
    let mut members = Vec::new();
    for (i, line) in String::from_utf8_lossy(&init.stdout).lines().enumerate() {
        let line: Value = serde_json::from_str(line).expect("member line");
        configure(i, Path::new(line["config"].as_str().expect("config")));
        let log = std::fs::File::create(dir.join(format!("member{i}.log"))).expect("log");
        let child = Command::new(STRIAE)
            .args(["run", "--config"])
            .arg(line["config"].as_str().expect("config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("striae run");
        processes.0.push(child);
        members.push(Member {
            api: line["api"].as_str().expect("api").to_string(),
            token: line["token"].as_str().expect("token").to_string(),
            config: line["config"].as_str().expect("config").into(),
        });
    }
    eventually("every member connected to the others", || {
        members.iter().all(|m| {
            striae(m, &["peers"]).is_ok_and(|v| {
                v.as_array()
                    .is_some_and(|p| p.iter().filter(|p| p["connected"] == true).count() == n - 1)
            })
        })
    });
    (processes, members)
}
