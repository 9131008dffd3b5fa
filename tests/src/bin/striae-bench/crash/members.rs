//! The members as separate processes: devnet init, start, SIGKILL, restart.

use super::*;

/// The program member processes run.
#[derive(Clone, Debug)]
pub(super) enum Launcher {
    /// `striae devnet init` and `striae run --config`.
    Striae(PathBuf),
    /// The devnet written by the library `striae devnet init` calls, and
    /// `striae-bench member --config` (this program).
    Bench(PathBuf),
}

impl Launcher {
    pub(super) fn command(&self, config: &Path) -> Command {
        let (program, verb) = match self {
            Launcher::Striae(program) => (program, "run"),
            Launcher::Bench(program) => (program, "member"),
        };
        let mut command = Command::new(program);
        command.arg(verb).arg("--config").arg(config);
        command
    }

    /// Writes the devnet and returns its members.
    pub(super) fn devnet_init(&self, dir: &Path) -> Result<Vec<MemberLine>> {
        let base_port = free_port_run(2 * MEMBERS as u16)?;
        let lines = match self {
            Launcher::Striae(program) => striae_devnet_init(program, dir, base_port)?,
            Launcher::Bench(_) => striae_node::devnet::init(dir, MEMBERS, base_port)?
                .into_iter()
                .map(|line| serde_json::from_value(serde_json::to_value(line)?))
                .collect::<Result<_, _>>()?,
        };
        if lines.len() != MEMBERS {
            bail!("the devnet has {} members", lines.len());
        }
        let config = &lines[REVIEWING_MEMBER].config;
        let mut text = fs::read_to_string(config)?;
        text.push_str("\n[traces]\npolicy = \"review\"\n");
        fs::write(config, text)?;
        Ok(lines)
    }
}

/// Runs one member in this process until it is killed (`striae-bench member`): the node
/// library as `striae run` starts it.
pub async fn member(config: PathBuf) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,libp2p=warn,sled=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let config = striae_node::config::NodeConfig::load(&config)?;
    let running = striae_node::node::start(config).await?;
    eprintln!("member running; API on http://{}", running.api_addr);
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}

/// A member as `striae devnet init` prints it.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct MemberLine {
    pub(super) country: String,
    pub(super) bureau_id: String,
    pub(super) config: PathBuf,
    pub(super) api: String,
    pub(super) token: String,
}

/// A member process.
pub(super) struct Member {
    pub(super) line: MemberLine,
    pub(super) api: Api,
    pub(super) log: PathBuf,
    pub(super) child: Option<Child>,
    pub(super) starts: u32,
}

impl Member {
    /// Starts the member's process on its config, its output appended to its log.
    pub(super) fn start(&mut self, launcher: &Launcher) -> Result<()> {
        self.starts += 1;
        let mut log = File::options().create(true).append(true).open(&self.log)?;
        use std::io::Write as _;
        writeln!(log, "=== crash harness: start {} ===", self.starts)?;
        let child = launcher
            .command(&self.line.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {launcher:?}"))?;
        self.child = Some(child);
        Ok(())
    }

    /// Sends SIGKILL (what `Child::kill` sends on Unix) and reaps the process.
    pub(super) fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Waits until the member answers `/v1/status`.
    pub(super) async fn wait_ready(&mut self, wait: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Ok(answer) = self.api.get("/v1/status").await
                && answer.ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(exit) = child.try_wait()?
            {
                bail!(
                    "{} exited ({exit}) while starting; see {}",
                    self.line.country,
                    self.log.display()
                );
            }
            if start.elapsed() > wait {
                bail!(
                    "{} did not answer /v1/status in {wait:?}; see {}",
                    self.line.country,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Writes the devnet with `striae devnet init` and returns its members.
pub(super) fn striae_devnet_init(
    binary: &Path,
    dir: &Path,
    base_port: u16,
) -> Result<Vec<MemberLine>> {
    let output = Command::new(binary)
        .args(["devnet", "init", "--nodes", &MEMBERS.to_string()])
        .arg("--dir")
        .arg(dir)
        .args(["--base-port", &base_port.to_string()])
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "striae devnet init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).map_err(anyhow::Error::from))
        .collect::<Result<_>>()
        .context("striae devnet init printed something else than member lines")
}

/// The first of `count` consecutive free ports on 127.0.0.1, starting somewhere that depends
/// on the process id so that runs side by side rarely collide.
pub(super) fn free_port_run(count: u16) -> Result<u16> {
    let start = 20_000 + (std::process::id() % 2_000) as u16 * 16;
    for base in (start..60_000).step_by(usize::from(count)) {
        let all_free = (base..base + count)
            .all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        if all_free {
            return Ok(base);
        }
    }
    bail!("no {count} consecutive free ports")
}
