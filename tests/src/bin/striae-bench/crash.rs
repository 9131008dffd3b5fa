//! `crash`: members killed with SIGKILL in the middle of their writes lose nothing they
//! acknowledged. Three members run as separate processes of the `striae` binary (or of this
//! program's `member` command, the same node library, where no `striae` binary is built). Each round
//! one of them (the victim) runs a workload (a firearm import, notice publications, traces or
//! ballistic uploads), is killed at a random moment, restarted on the same data, and every
//! write its API answered with success before the kill is checked: present at the victim,
//! announced in its feed and seen by its peers, with no equivocation anywhere and every audit
//! log whole.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::{self, File},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Args;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde::Deserialize;
use serde_json::{Value, json};

/// Members of the crash network.
const MEMBERS: usize = 3;
/// The member whose trace policy is `review`, so that traces meet both policies.
const REVIEWING_MEMBER: usize = 2;
/// Records each member imports before the first kill, the targets of traces.
const SETUP_RECORDS: u64 = 50;
/// Concurrent publishers in the notice workload.
const NOTICE_PUBLISHERS: usize = 4;
/// Import requests in flight, as `striae firearm import` sends them.
const IMPORTS_IN_FLIGHT: usize = 2;
/// Pause between two traces of a trace round.
const TRACE_PAUSE: Duration = Duration::from_millis(50);
/// Pause between two uploads of a ballistic round.
const UPLOAD_PAUSE: Duration = Duration::from_millis(100);
/// Most exhibits of one scan over the run, all members together: copies of one scan have the
/// same digest, so a search finds them all with the same score, and a search lists at most
/// 50 candidates (the check finds each copy among them).
const MAX_COPIES_PER_SCAN: u64 = 40;
/// Times an audit log that looks short is verified before it counts as broken.
const AUDIT_ATTEMPTS: u32 = 5;
/// Records checked one by one, at random, per round (besides the ends of every batch) and
/// per member in the final pass.
const ROUND_RECORD_SAMPLE: usize = 16;
const FINAL_RECORD_SAMPLE: usize = 400;
/// Failures described in the final JSON (all of them go to standard error).
const LISTED_FAILURES: usize = 30;
/// The import rate assumed until the first import round has measured one, records/s.
const FIRST_IMPORT_RATE: f64 = 20_000.0;

/// Options of `striae-bench crash`.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// SIGKILLs to send, one per round
    #[arg(long, default_value_t = 50)]
    kills: usize,
    /// Seed of the choices: victims, workloads, delays before the kill
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Firearm records imported over all import rounds together
    #[arg(long, default_value_t = 1_000_000)]
    import_records: u64,
    /// Records per import request
    #[arg(long, default_value_t = 10_000)]
    batch: u64,
    /// Folder of X3P scans the ballistic rounds upload (those rounds are left out without it)
    #[arg(long, default_value = "../shared/datasets/fadul-known")]
    scans: PathBuf,
    /// Folder for the network's configs, data and logs (default: a new temporary folder, kept)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The `striae` binary (default: the one next to this program)
    #[arg(long)]
    striae: Option<PathBuf>,
    /// Run each member as a `striae-bench member` process (the same node library in this
    /// program) instead of `striae run`: for tests, whose build has no `striae` binary
    #[arg(long)]
    members_in_bench: bool,
    /// Longest wait in seconds for a restart, for members to agree, for a trace's answers
    #[arg(long, default_value_t = 120)]
    wait: u64,
}

/// What the victim does when it is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Workload {
    Import,
    Notices,
    Trace,
    Ballistics,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Import => "import",
            Workload::Notices => "notices",
            Workload::Trace => "trace",
            Workload::Ballistics => "ballistics",
        }
    }

    /// Shortest and longest delay before the kill, in seconds: an import is killed somewhere
    /// within the time its share takes (`import_seconds`, estimated), the others (which run
    /// until killed) after a few of their writes.
    fn delay_range(self, import_seconds: f64) -> (f64, f64) {
        match self {
            Workload::Import => (0.05, import_seconds.max(0.1)),
            Workload::Notices | Workload::Trace => (0.05, 2.0),
            Workload::Ballistics => (0.05, 4.0),
        }
    }
}

/// The workloads of every round: random, but each appears once in every run of as many rounds
/// as there are workloads, so that a short loop still meets them all.
fn schedule(kills: usize, available: &[Workload], rng: &mut StdRng) -> Vec<Workload> {
    let mut rounds = Vec::with_capacity(kills);
    while rounds.len() < kills {
        let mut deck = available.to_vec();
        deck.shuffle(rng);
        rounds.extend(deck);
    }
    rounds.truncate(kills);
    rounds
}

// ------------------------------------------------------------------------- HTTP

/// An HTTP answer: status and JSON body (`null` when the body is not JSON).
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One member's API.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    async fn get(&self, path: &str) -> Result<Answer> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Answer> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Result<Answer> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        self.send(request).await
    }
}

// ------------------------------------------------------------------------- members

/// The program member processes run.
#[derive(Clone, Debug)]
enum Launcher {
    /// `striae devnet init` and `striae run --config`.
    Striae(PathBuf),
    /// The devnet written by the library `striae devnet init` calls, and
    /// `striae-bench member --config` (this program).
    Bench(PathBuf),
}

impl Launcher {
    fn command(&self, config: &Path) -> Command {
        let (program, verb) = match self {
            Launcher::Striae(program) => (program, "run"),
            Launcher::Bench(program) => (program, "member"),
        };
        let mut command = Command::new(program);
        command.arg(verb).arg("--config").arg(config);
        command
    }

    /// Writes the devnet and returns its members.
    fn devnet_init(&self, dir: &Path) -> Result<Vec<MemberLine>> {
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
struct MemberLine {
    country: String,
    bureau_id: String,
    config: PathBuf,
    api: String,
    token: String,
}

/// A member process.
struct Member {
    line: MemberLine,
    api: Api,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Member {
    /// Starts the member's process on its config, its output appended to its log.
    fn start(&mut self, launcher: &Launcher) -> Result<()> {
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
    fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Waits until the member answers `/v1/status`.
    async fn wait_ready(&mut self, wait: Duration) -> Result<()> {
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
fn striae_devnet_init(binary: &Path, dir: &Path, base_port: u16) -> Result<Vec<MemberLine>> {
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
fn free_port_run(count: u16) -> Result<u16> {
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

// ------------------------------------------------------------------------- writes

/// A write the API answered with success.
#[derive(Clone, Debug)]
enum Write {
    /// Records numbered `first..first + count` (see `record_fields`), imported in one request.
    Records {
        first: u64,
        count: u64,
    },
    Notice {
        id: String,
        title: String,
    },
    Trace {
        id: String,
    },
    Exhibit {
        id: String,
        exhibit_ref: String,
        scan: usize,
    },
}

/// Make, model, caliber and type of the generated records, in turn.
const TEMPLATES: [(&str, &str, &str, &str); 6] = [
    ("Glock", "17", "9x19mm", "pistol"),
    ("Beretta", "92FS", "9mm Luger", "pistol"),
    ("Smith & Wesson", "Model 10", ".38 Special", "revolver"),
    ("Kalashnikov Concern", "AKM", "7.62x39mm", "assault rifle"),
    ("Remington", "870", "12 gauge", "shotgun"),
    ("Walther", "PPK", ".380 ACP", "pistol"),
];

/// Make and serial of record `n`: serials are unique over the whole run.
fn record_key(n: u64) -> (&'static str, String) {
    let (make, ..) = TEMPLATES[(n % TEMPLATES.len() as u64) as usize];
    (make, format!("KX-{n:010}"))
}

/// Records `first..first + count` as an importable CSV file.
fn records_csv(first: u64, count: u64) -> Vec<u8> {
    let mut out = String::from("make,model,caliber,serial,type,status,event_date,case_ref\n");
    for n in first..first + count {
        let (make, model, caliber, kind) = TEMPLATES[(n % TEMPLATES.len() as u64) as usize];
        let (_, serial) = record_key(n);
        out.push_str(&format!(
            "{make},{model},{caliber},{serial},{kind},stolen,2024-0{}-1{},KILL-{n}\n",
            1 + n % 9,
            n % 10
        ));
    }
    out.into_bytes()
}

/// What every workload draws from: record numbers, scans, trace targets.
struct Fixtures {
    next_record: AtomicU64,
    next_label: AtomicU64,
    uploads: AtomicU64,
    scans: Vec<(String, Vec<u8>)>,
    /// Per member, the first record of the records it imported at setup.
    setup_records: Vec<u64>,
}

impl Fixtures {
    fn records(&self, count: u64) -> u64 {
        self.next_record.fetch_add(count, Ordering::SeqCst)
    }

    fn label(&self) -> u64 {
        self.next_label.fetch_add(1, Ordering::SeqCst)
    }
}

/// Reads the `.x3p` files of `dir`, in name order; none when the folder is absent.
fn read_scans(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let Ok(listing) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "x3p"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into();
            Ok((name, fs::read(&p)?))
        })
        .collect()
}

// ------------------------------------------------------------------------- workloads

/// Acknowledged writes of the running round, recorded as each answer arrives.
type Acks = Arc<Mutex<Vec<Write>>>;

fn acknowledge(acks: &Acks, write: Write) {
    if let Ok(mut acks) = acks.lock() {
        acks.push(write);
    }
}

/// A refusal the harness did not expect (the workloads only send valid writes).
fn refused(what: &str, answer: &Answer) -> anyhow::Error {
    anyhow::anyhow!("{what}: answered {} {}", answer.status, answer.body)
}

/// Imports the records of `share` in batches, `IMPORTS_IN_FLIGHT` requests at a time, until
/// the share is sent or the member stops answering.
async fn import_share(api: Api, share: std::ops::Range<u64>, batch: u64, acks: Acks) -> Result<()> {
    let cursor = Arc::new(AtomicU64::new(share.start));
    let sender = |_| {
        let (api, cursor, acks, share) = (api.clone(), cursor.clone(), acks.clone(), share.clone());
        async move {
            loop {
                let first = cursor.fetch_add(batch, Ordering::SeqCst);
                if first >= share.end {
                    return Ok(());
                }
                let count = batch.min(share.end - first);
                let body = records_csv(first, count);
                let Ok(answer) = api
                    .post_bytes("/v1/firearms/import", "text/csv", body)
                    .await
                else {
                    return Ok(());
                };
                if !answer.ok() || answer.body["imported"].as_u64() != Some(count) {
                    return Err(refused("import", &answer));
                }
                acknowledge(&acks, Write::Records { first, count });
            }
        }
    };
    let senders = (0..IMPORTS_IN_FLIGHT).map(sender);
    futures::future::try_join_all(senders).await?;
    Ok(())
}

/// Publishes notices from `NOTICE_PUBLISHERS` loops until the member stops answering.
async fn publish_notices(api: Api, fixtures: Arc<Fixtures>, acks: Acks) -> Result<()> {
    let publisher = |_| {
        let (api, fixtures, acks) = (api.clone(), fixtures.clone(), acks.clone());
        async move {
            loop {
                let label = fixtures.label();
                let title = format!("Crash test notice {label}");
                let body = json!({
                    "kind": if label % 2 == 0 { "orange" } else { "purple" },
                    "title": title,
                    "summary": "A short warning published while the member may be killed.",
                });
                let Ok(answer) = api.post_json("/v1/notices", &body).await else {
                    return Ok(());
                };
                let Some(id) = answer.body["id"].as_str().filter(|_| answer.ok()) else {
                    return Err(refused("notice", &answer));
                };
                acknowledge(
                    &acks,
                    Write::Notice {
                        id: id.to_string(),
                        title,
                    },
                );
            }
        }
    };
    futures::future::try_join_all((0..NOTICE_PUBLISHERS).map(publisher)).await?;
    Ok(())
}

/// Starts traces of records the other members hold until the member stops answering.
async fn start_traces(
    api: Api,
    victim: usize,
    fixtures: Arc<Fixtures>,
    acks: Acks,
    seed: u64,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    loop {
        let holder = (victim + rng.gen_range(1..MEMBERS)) % MEMBERS;
        let record = fixtures.setup_records[holder] + rng.gen_range(0..SETUP_RECORDS);
        let (make, serial) = record_key(record);
        let body = json!({
            "make": make,
            "serial": serial,
            "case_ref": format!("KILL-TRACE-{}", fixtures.label()),
            "reason": "crash test: a trace started while the member may be killed",
        });
        let Ok(answer) = api.post_json("/v1/traces", &body).await else {
            return Ok(());
        };
        let Some(id) = answer.body["id"].as_str().filter(|_| answer.ok()) else {
            return Err(refused("trace", &answer));
        };
        acknowledge(&acks, Write::Trace { id: id.to_string() });
        // Paced: a reviewed answer is delivered at most 32 per 5 s tick, and each trace
        // acknowledged here is waited for until it is answered.
        tokio::time::sleep(TRACE_PAUSE).await;
    }
}

/// Uploads scans as exhibits, one after another, until the member stops answering (or every
/// scan has been uploaded `MAX_COPIES_PER_SCAN` times over the run).
async fn upload_exhibits(api: Api, fixtures: Arc<Fixtures>, acks: Acks) -> Result<()> {
    loop {
        let upload = fixtures.uploads.fetch_add(1, Ordering::SeqCst);
        if upload >= MAX_COPIES_PER_SCAN * fixtures.scans.len() as u64 {
            return Ok(());
        }
        let label = fixtures.label();
        let scan = (upload % fixtures.scans.len() as u64) as usize;
        let path =
            format!("/v1/ballistics?kind=cartridge_case&caliber=9mm%20Luger&case_ref=KILL-{label}");
        let bytes = fixtures.scans[scan].1.clone();
        let Ok(answer) = api
            .post_bytes(&path, "application/octet-stream", bytes)
            .await
        else {
            return Ok(());
        };
        let (Some(id), Some(exhibit_ref)) = (
            answer.body["id"].as_str().filter(|_| answer.ok()),
            answer.body["exhibit_ref"].as_str(),
        ) else {
            return Err(refused("exhibit", &answer));
        };
        acknowledge(
            &acks,
            Write::Exhibit {
                id: id.to_string(),
                exhibit_ref: exhibit_ref.to_string(),
                scan,
            },
        );
        tokio::time::sleep(UPLOAD_PAUSE).await;
    }
}

// ------------------------------------------------------------------------- the harness

/// What the loop found.
#[derive(Default)]
struct Tally {
    workloads: BTreeMap<&'static str, u64>,
    records: u64,
    notices: u64,
    traces: u64,
    exhibits: u64,
    equivocations: u64,
    records_checked: u64,
    lost: u64,
    announced_missing: u64,
    head_regressions: u64,
    audit_failures: u64,
    audit_races: u64,
    refusals: u64,
    failures: Vec<String>,
    failed_writes: BTreeSet<String>,
}

impl Tally {
    fn count(&mut self, writes: &[Write]) {
        for write in writes {
            match write {
                Write::Records { count, .. } => self.records += count,
                Write::Notice { .. } => self.notices += 1,
                Write::Trace { .. } => self.traces += 1,
                Write::Exhibit { .. } => self.exhibits += 1,
            }
        }
    }

    fn fail(&mut self, text: String) {
        eprintln!("FAILURE: {text}");
        self.failures.push(text);
    }

    /// Whether the write `text` is about ("notice <id>", "record <serial>", ...) is counted
    /// for the first time: a write found wrong in its round and again in the final pass, or
    /// at both peers, counts once.
    fn first_time(&mut self, text: &str) -> bool {
        let write: Vec<&str> = text.split_whitespace().take(2).collect();
        self.failed_writes.insert(write.join(" "))
    }

    fn lose(&mut self, text: String) {
        if self.first_time(&text) {
            self.lost += 1;
            self.fail(format!("lost: {text}"));
        }
    }

    fn unannounced(&mut self, text: String) {
        if self.first_time(&text) {
            self.announced_missing += 1;
            self.fail(format!("not announced: {text}"));
        }
    }
}

/// How thoroughly the records of a list of writes are checked.
#[derive(Clone, Copy)]
enum Sampling {
    /// The first and last record of every batch and `n` more at random.
    EndsAnd(usize),
    /// `n` records at random.
    Random(usize),
}

struct Harness {
    opts: Options,
    launcher: Launcher,
    members: Vec<Member>,
    fixtures: Arc<Fixtures>,
    /// Every acknowledged write, by member.
    ledger: Vec<Vec<Write>>,
    tally: Tally,
    rng: StdRng,
    import_rate: f64,
}

/// The `striae` binary of `--striae` or next to this program, or this program.
fn launcher(opts: &Options) -> Result<Launcher> {
    let this = std::env::current_exe()?;
    if opts.members_in_bench {
        return Ok(Launcher::Bench(this));
    }
    let binary = match &opts.striae {
        Some(path) => path.clone(),
        None => this
            .parent()
            .context("this program has no folder")?
            .join("striae"),
    };
    if !binary.exists() {
        bail!(
            "no striae binary at {}: build it (cargo build --release -p striae-node), pass --striae, or run the members in this program (--members-in-bench)",
            binary.display()
        );
    }
    Ok(Launcher::Striae(binary))
}

/// Runs `striae-bench crash`.
pub async fn run(opts: Options) -> Result<()> {
    let started = Instant::now();
    let launcher = launcher(&opts)?;
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new()
            .prefix("striae-crash-")
            .tempdir()?
            .keep(),
    };
    eprintln!("crash: network, data and logs in {}", dir.display());
    let scans = read_scans(&opts.scans)?;
    if scans.is_empty() {
        eprintln!(
            "crash: no .x3p scans in {}: ballistic rounds are left out (pass --scans DIR)",
            opts.scans.display()
        );
    }
    let mut harness = Harness::start(opts, launcher, &dir, scans).await?;
    harness.run_rounds().await?;
    harness.final_pass().await?;
    harness.report(started.elapsed().as_secs_f64())
}

impl Harness {
    async fn start(
        opts: Options,
        launcher: Launcher,
        dir: &Path,
        scans: Vec<(String, Vec<u8>)>,
    ) -> Result<Harness> {
        let lines = launcher.devnet_init(&dir.join("net"))?;
        let logs = dir.join("logs");
        fs::create_dir_all(&logs)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?;
        let mut members: Vec<Member> = lines
            .into_iter()
            .map(|line| Member {
                api: Api {
                    http: http.clone(),
                    base: line.api.clone(),
                    token: line.token.clone(),
                },
                log: logs.join(format!("{}.log", line.country.to_lowercase())),
                line,
                child: None,
                starts: 0,
            })
            .collect();
        let wait = Duration::from_secs(opts.wait);
        for member in &mut members {
            member.start(&launcher)?;
        }
        for member in &mut members {
            member.wait_ready(wait).await?;
        }
        let rng = StdRng::seed_from_u64(opts.seed);
        let setup_records: Vec<u64> = (0..MEMBERS as u64).map(|m| m * SETUP_RECORDS).collect();
        let fixtures = Arc::new(Fixtures {
            next_record: AtomicU64::new(MEMBERS as u64 * SETUP_RECORDS),
            next_label: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
            scans,
            setup_records,
        });
        let mut harness = Harness {
            opts,
            launcher,
            members,
            fixtures,
            ledger: vec![Vec::new(); MEMBERS],
            tally: Tally::default(),
            rng,
            import_rate: FIRST_IMPORT_RATE,
        };
        harness.setup_records().await?;
        Ok(harness)
    }

    fn wait(&self) -> Duration {
        Duration::from_secs(self.opts.wait)
    }

    /// Each member imports a few records that the trace rounds ask the others about.
    async fn setup_records(&mut self) -> Result<()> {
        for m in 0..MEMBERS {
            let first = self.fixtures.setup_records[m];
            let answer = self.members[m]
                .api
                .post_bytes(
                    "/v1/firearms/import",
                    "text/csv",
                    records_csv(first, SETUP_RECORDS),
                )
                .await?;
            if answer.body["imported"].as_u64() != Some(SETUP_RECORDS) {
                bail!("setup import: {} {}", answer.status, answer.body);
            }
            let write = Write::Records {
                first,
                count: SETUP_RECORDS,
            };
            self.acknowledged(m, &[write]);
        }
        self.converge(0).await
    }

    async fn run_rounds(&mut self) -> Result<()> {
        let mut available = vec![Workload::Import, Workload::Notices, Workload::Trace];
        if !self.fixtures.scans.is_empty() {
            available.push(Workload::Ballistics);
        }
        let rounds = schedule(self.opts.kills, &available, &mut self.rng);
        let mut imports_left = rounds.iter().filter(|w| **w == Workload::Import).count() as u64;
        let mut records_left = self.opts.import_records;
        for (i, workload) in rounds.into_iter().enumerate() {
            let share = if workload == Workload::Import {
                let share = records_left / imports_left.max(1);
                imports_left = imports_left.saturating_sub(1);
                records_left -= share;
                share
            } else {
                0
            };
            *self.tally.workloads.entry(workload.name()).or_default() += 1;
            self.round(i + 1, workload, share).await?;
        }
        Ok(())
    }

    /// One round: a workload at a random member, SIGKILL after a random delay, restart, checks.
    async fn round(&mut self, number: usize, workload: Workload, share: u64) -> Result<()> {
        let victim = self.rng.gen_range(0..MEMBERS);
        let delay = self.delay(workload, share);
        let acks: Acks = Arc::new(Mutex::new(Vec::new()));
        let task = self.spawn_workload(workload, victim, share, acks.clone());
        let begun = Instant::now();
        tokio::time::sleep(delay).await;
        self.members[victim].kill()?;
        let killed_after = begun.elapsed();
        match tokio::time::timeout(self.wait(), task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                self.tally.refusals += 1;
                self.tally
                    .fail(format!("round {number}: unexpected answer: {e:#}"));
            }
            Ok(Err(e)) => bail!("round {number}: the workload panicked: {e}"),
            Err(_) => bail!("round {number}: the workload did not stop after the kill"),
        }
        let writes = acks.lock().map(|a| a.clone()).unwrap_or_default();
        let announced_head = self.peers_view_of(victim).await?;
        self.restart(victim).await?;
        self.check_head(number, victim, announced_head).await?;
        if workload == Workload::Import {
            self.note_import_rate(share, &writes, killed_after);
        }
        eprintln!(
            "round {number}/{}: {} at {}, killed after {:.2} s: {}",
            self.opts.kills,
            workload.name(),
            self.members[victim].line.country,
            killed_after.as_secs_f64(),
            describe(&writes)
        );
        self.acknowledged(victim, &writes);
        self.converge(number).await?;
        self.check_writes(victim, &writes, Sampling::EndsAnd(ROUND_RECORD_SAMPLE))
            .await?;
        if workload == Workload::Import {
            // What the kill left out goes in after the restart (as fresh records: the
            // unanswered requests may have stored part of theirs), so that the loop imports
            // every record it set out to, and imports after a crash are checked too.
            let missing = share - records_in(&writes);
            let rest = self.finish_import(victim, missing).await?;
            self.acknowledged(victim, &rest);
            self.converge(number).await?;
            self.check_writes(victim, &rest, Sampling::EndsAnd(ROUND_RECORD_SAMPLE))
                .await?;
        }
        self.check_network(number).await
    }

    /// Starts `workload` against `victim`; it records each acknowledged write in `acks` and
    /// ends when the victim stops answering (or, for an import, when its share is sent).
    fn spawn_workload(
        &mut self,
        workload: Workload,
        victim: usize,
        share: u64,
        acks: Acks,
    ) -> tokio::task::JoinHandle<Result<()>> {
        let api = self.members[victim].api.clone();
        let fixtures = self.fixtures.clone();
        match workload {
            Workload::Import => {
                let first = fixtures.records(share);
                let batch = self.opts.batch;
                tokio::spawn(import_share(api, first..first + share, batch, acks))
            }
            Workload::Notices => tokio::spawn(publish_notices(api, fixtures, acks)),
            Workload::Trace => {
                let seed = self.rng.r#gen();
                tokio::spawn(start_traces(api, victim, fixtures, acks, seed))
            }
            Workload::Ballistics => tokio::spawn(upload_exhibits(api, fixtures, acks)),
        }
    }

    /// Adds acknowledged writes to the ledger and the tally.
    fn acknowledged(&mut self, member: usize, writes: &[Write]) {
        self.tally.count(writes);
        self.ledger[member].extend_from_slice(writes);
    }

    /// The delay before the kill, an import's estimated at the rate measured so far.
    fn delay(&mut self, workload: Workload, share: u64) -> Duration {
        let (low, high) = workload.delay_range(share as f64 / self.import_rate);
        Duration::from_secs_f64(self.rng.gen_range(low..high))
    }

    /// Keeps the import rate of a killed import round for the next one's delay. A share that
    /// was all imported before the kill only shows that the rate was at least that.
    fn note_import_rate(&mut self, share: u64, writes: &[Write], elapsed: Duration) {
        let records = records_in(writes);
        if records == 0 {
            return;
        }
        let rate = records as f64 / elapsed.as_secs_f64().max(0.01);
        self.import_rate = if records == share {
            self.import_rate.max(rate)
        } else {
            rate
        };
    }

    /// Imports `count` new records at the (restarted) victim, without a kill.
    async fn finish_import(&self, victim: usize, count: u64) -> Result<Vec<Write>> {
        let acks: Acks = Arc::new(Mutex::new(Vec::new()));
        let first = self.fixtures.records(count);
        let api = self.members[victim].api.clone();
        import_share(api, first..first + count, self.opts.batch, acks.clone()).await?;
        let writes = acks.lock().map(|a| a.clone()).unwrap_or_default();
        let imported = records_in(&writes);
        if imported != count {
            bail!("the import after the restart stored {imported} of {count} records");
        }
        Ok(writes)
    }

    async fn restart(&mut self, victim: usize) -> Result<()> {
        let wait = self.wait();
        let launcher = self.launcher.clone();
        let member = &mut self.members[victim];
        member.start(&launcher)?;
        member.wait_ready(wait).await
    }

    /// The highest seq of `victim`'s feed that a peer holds.
    async fn peers_view_of(&self, victim: usize) -> Result<u64> {
        let mut highest = 0;
        for peer in self.peers(victim) {
            let status = self.status(peer).await?;
            highest = highest.max(head_of(&status, &self.members[victim].line.bureau_id));
        }
        Ok(highest)
    }

    /// A member that comes back holding less of its own feed than its peers received from it
    /// lost entries it had announced: the next ones it signs would equivocate.
    async fn check_head(&mut self, number: usize, victim: usize, announced: u64) -> Result<()> {
        let status = self.status(victim).await?;
        let own = head_of(&status, &self.members[victim].line.bureau_id);
        if own < announced {
            self.tally.head_regressions += 1;
            self.tally.fail(format!(
                "round {number}: {} restarted at seq {own} of its own feed, but its peers hold up to {announced}",
                self.members[victim].line.country
            ));
        }
        Ok(())
    }

    fn peers(&self, member: usize) -> impl Iterator<Item = usize> + use<> {
        (0..MEMBERS).filter(move |m| *m != member)
    }

    async fn status(&self, member: usize) -> Result<Value> {
        let answer = self.members[member].api.get("/v1/status").await?;
        if !answer.ok() {
            bail!("status of member {member}: {}", answer.status);
        }
        Ok(answer.body)
    }

    /// Waits until every member holds every member's feed up to that member's own head; a
    /// network that does not get there in time is a failure of round `number`.
    async fn converge(&mut self, number: usize) -> Result<()> {
        let start = Instant::now();
        loop {
            let mut statuses = Vec::with_capacity(MEMBERS);
            for m in 0..MEMBERS {
                statuses.push(self.status(m).await?);
            }
            let lagging = self.lagging(&statuses);
            if lagging.is_empty() {
                return Ok(());
            }
            if start.elapsed() > self.wait() {
                self.tally.fail(format!(
                    "round {number}: members did not agree on the feeds in {} s: {}",
                    self.opts.wait,
                    lagging.join("; ")
                ));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Who holds less of whose feed than its origin, from every member's status.
    fn lagging(&self, statuses: &[Value]) -> Vec<String> {
        let mut out = Vec::new();
        for (origin, member) in self.members.iter().enumerate() {
            let own = head_of(&statuses[origin], &member.line.bureau_id);
            for peer in self.peers(origin) {
                let held = head_of(&statuses[peer], &member.line.bureau_id);
                if held != own {
                    out.push(format!(
                        "{} holds {held} of {}'s {own}",
                        self.members[peer].line.country, member.line.country
                    ));
                }
            }
        }
        out
    }

    /// `GET /v1/audit/verify` at `member`. The node compares the records it read with its
    /// count of records written after reading them, so a record written meanwhile makes a
    /// whole log look short: such an answer is asked again (a log that lost its tail stays
    /// short), and counted.
    async fn verify_audit(&mut self, member: usize) -> Result<Answer> {
        let mut attempts = 0;
        loop {
            let answer = self.members[member].api.get("/v1/audit/verify").await?;
            let short_tail = answer.body["problems"].as_array().is_some_and(|p| {
                p.len() == 1
                    && p[0]["problem"]
                        .as_str()
                        .is_some_and(|t| t.contains("records were written"))
            });
            attempts += 1;
            if !short_tail || attempts >= AUDIT_ATTEMPTS {
                return Ok(answer);
            }
            self.tally.audit_races += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Equivocation reports and audit logs of every member.
    async fn check_network(&mut self, number: usize) -> Result<()> {
        let mut reports = 0;
        for m in 0..MEMBERS {
            let status = self.status(m).await?;
            let held = status["equivocations"].as_array().map_or(0, Vec::len) as u64;
            reports += held;
            if held > 0 {
                self.tally.fail(format!(
                    "round {number}: {} reports equivocation: {}",
                    self.members[m].line.country, status["equivocations"]
                ));
            }
            let audit = self.verify_audit(m).await?;
            if audit.body["ok"].as_bool() != Some(true) {
                self.tally.audit_failures += 1;
                self.tally.fail(format!(
                    "round {number}: the audit log of {} does not verify: {}",
                    self.members[m].line.country, audit.body
                ));
            }
        }
        self.tally.equivocations = self.tally.equivocations.max(reports);
        Ok(())
    }

    /// Checks `writes`, acknowledged by `member`: each present there and announced to its
    /// peers.
    async fn check_writes(
        &mut self,
        member: usize,
        writes: &[Write],
        sampling: Sampling,
    ) -> Result<()> {
        let mut traces = Vec::new();
        let mut exhibits: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
        for write in writes {
            match write {
                Write::Notice { id, title } => self.check_notice(member, id, title).await?,
                Write::Trace { id } => traces.push(id.clone()),
                Write::Exhibit {
                    id,
                    exhibit_ref,
                    scan,
                } => exhibits
                    .entry(*scan)
                    .or_default()
                    .push((id.clone(), exhibit_ref.clone())),
                Write::Records { .. } => {}
            }
        }
        let records = self.sample_records(writes, sampling);
        self.check_records(member, &records).await?;
        for (scan, list) in exhibits {
            self.check_exhibits(member, scan, &list).await?;
        }
        self.check_traces(member, &traces).await
    }

    async fn check_notice(&mut self, member: usize, id: &str, title: &str) -> Result<()> {
        let country = self.members[member].line.country.clone();
        let path = format!("/v1/notices/{id}");
        let own = self.members[member].api.get(&path).await?;
        if !own.ok() || own.body["title"] != title {
            self.tally.lose(format!(
                "notice {id} of {country}: {} {}",
                own.status, own.body["title"]
            ));
            return Ok(());
        }
        for peer in self.peers(member).collect::<Vec<_>>() {
            let seen = self.members[peer].api.get(&path).await?;
            if !seen.ok() || seen.body["title"] != title {
                self.tally.unannounced(format!(
                    "notice {id} of {country} at {}: {} {}",
                    self.members[peer].line.country, seen.status, seen.body["title"]
                ));
            }
        }
        Ok(())
    }

    /// The record numbers to check one by one.
    fn sample_records(&mut self, writes: &[Write], sampling: Sampling) -> Vec<u64> {
        let batches: Vec<(u64, u64)> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Records { first, count } => Some((*first, *count)),
                _ => None,
            })
            .collect();
        if batches.is_empty() {
            return Vec::new();
        }
        let mut chosen = BTreeSet::new();
        let extra = match sampling {
            Sampling::EndsAnd(n) => {
                for (first, count) in &batches {
                    chosen.insert(*first);
                    chosen.insert(first + count - 1);
                }
                n
            }
            Sampling::Random(n) => n,
        };
        for _ in 0..extra {
            let (first, count) = batches[self.rng.gen_range(0..batches.len())];
            chosen.insert(first + self.rng.gen_range(0..count));
        }
        chosen.into_iter().collect()
    }

    /// Records: the member's count covers what it acknowledged; each sampled record is found
    /// by a check at the member (its own feed announced it), readable there, and found by a
    /// check at every peer under the same reference.
    async fn check_records(&mut self, member: usize, sample: &[u64]) -> Result<()> {
        if sample.is_empty() {
            return Ok(());
        }
        let acknowledged = records_in(&self.ledger[member]);
        let stats = self.members[member].api.get("/v1/firearms/index").await?;
        let held = stats.body["records"].as_u64().unwrap_or(0);
        let country = self.members[member].line.country.clone();
        let bureau = self.members[member].line.bureau_id.clone();
        if held < acknowledged {
            self.tally.fail(format!(
                "{country} holds {held} records but acknowledged {acknowledged}"
            ));
        }
        for n in sample {
            self.tally.records_checked += 1;
            let (make, serial) = record_key(*n);
            let what = format!("record {serial} of {country}");
            let own = self.check_hit(member, make, &serial, &bureau).await?;
            let Some(record_ref) = own else {
                if held < acknowledged {
                    self.tally
                        .lose(format!("{what}: not found by a check at its holder"));
                } else {
                    self.tally
                        .unannounced(format!("{what}: stored, but its own feed has no digest"));
                }
                continue;
            };
            let stored = self.members[member]
                .api
                .get(&format!("/v1/firearms/{record_ref}"))
                .await?;
            if !stored.ok() || stored.body["entered"]["serial"] != serial.as_str() {
                self.tally.lose(format!(
                    "{what}: announced as {record_ref} but {}",
                    stored.status
                ));
            }
            for peer in self.peers(member).collect::<Vec<_>>() {
                let seen = self.check_hit(peer, make, &serial, &bureau).await?;
                if seen.as_deref() != Some(record_ref.as_str()) {
                    self.tally.unannounced(format!(
                        "{what}: a check at {} finds {seen:?}, not {record_ref}",
                        self.members[peer].line.country
                    ));
                }
            }
        }
        Ok(())
    }

    /// The record reference a firearm check at `at` finds for `holder`.
    async fn check_hit(
        &self,
        at: usize,
        make: &str,
        serial: &str,
        holder: &str,
    ) -> Result<Option<String>> {
        let answer = self.members[at]
            .api
            .post_json(
                "/v1/firearms/check",
                &json!({"make": make, "serial": serial}),
            )
            .await?;
        if !answer.ok() {
            bail!("check: {} {}", answer.status, answer.body);
        }
        let hit = answer.body["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| h["bureau_id"] == holder && h["match"] == "exact");
        Ok(hit.and_then(|h| h["record_ref"].as_str().map(str::to_string)))
    }

    /// Exhibits of one scan: each readable at its holder, and its digest found by a search
    /// with the same scan at every peer.
    async fn check_exhibits(
        &mut self,
        member: usize,
        scan: usize,
        exhibits: &[(String, String)],
    ) -> Result<()> {
        let country = self.members[member].line.country.clone();
        let bureau = self.members[member].line.bureau_id.clone();
        for (id, _) in exhibits {
            let own = self.members[member]
                .api
                .get(&format!("/v1/ballistics/{id}"))
                .await?;
            if !own.ok() {
                self.tally
                    .lose(format!("exhibit {id} of {country}: {}", own.status));
            }
        }
        let (name, bytes) = self.fixtures.scans[scan].clone();
        for peer in self.peers(member).collect::<Vec<_>>() {
            let answer = self.members[peer]
                .api
                .post_bytes(
                    "/v1/ballistics/search?kind=cartridge_case&caliber=9mm%20Luger&limit=50&confirm=0",
                    "application/octet-stream",
                    bytes.clone(),
                )
                .await?;
            if !answer.ok() {
                bail!("search with {name}: {} {}", answer.status, answer.body);
            }
            let found: BTreeSet<&str> = answer.body["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["bureau_id"] == bureau.as_str())
                .filter_map(|c| c["exhibit_ref"].as_str())
                .collect();
            for (id, exhibit_ref) in exhibits {
                if !found.contains(exhibit_ref.as_str()) {
                    let text = format!(
                        "exhibit {id} ({name}) of {country}: a search at {} does not find it",
                        self.members[peer].line.country
                    );
                    self.tally.unannounced(text);
                }
            }
        }
        Ok(())
    }

    /// Traces: each stored at the member that started it, and answered by every member it
    /// asks (requests held for review are approved meanwhile).
    async fn check_traces(&mut self, member: usize, traces: &[String]) -> Result<()> {
        let country = self.members[member].line.country.clone();
        let mut waiting: Vec<String> = Vec::new();
        // A trace already found unanswered is not waited for again.
        let fresh = traces
            .iter()
            .filter(|id| !self.tally.failed_writes.contains(&format!("trace {id}")));
        for id in fresh.cloned().collect::<Vec<_>>() {
            let answer = self.members[member]
                .api
                .get(&format!("/v1/traces/{id}"))
                .await?;
            if answer.ok() {
                waiting.push(id.clone());
            } else {
                self.tally
                    .lose(format!("trace {id} of {country}: {}", answer.status));
            }
        }
        let start = Instant::now();
        while !waiting.is_empty() && start.elapsed() < self.wait() {
            self.approve_reviews().await?;
            let mut still = Vec::new();
            for id in waiting {
                let answer = self.members[member]
                    .api
                    .get(&format!("/v1/traces/{id}"))
                    .await?;
                if answer.body["state"] != "complete" {
                    still.push(id);
                }
            }
            waiting = still;
            if !waiting.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        for id in waiting {
            let answer = self.members[member]
                .api
                .get(&format!("/v1/traces/{id}"))
                .await?;
            self.tally.unannounced(format!(
                "trace {id} of {country}: not answered in {} s: {}",
                self.opts.wait, answer.body["asked"]
            ));
        }
        Ok(())
    }

    /// Approves every request waiting for review at the reviewing member.
    async fn approve_reviews(&self) -> Result<()> {
        let api = &self.members[REVIEWING_MEMBER].api;
        let incoming = api.get("/v1/traces/incoming?limit=1000").await?;
        for request in incoming.body.as_array().into_iter().flatten() {
            if request["state"] == "pending_review"
                && let Some(id) = request["id"].as_str()
            {
                let note = json!({"note": "approved by the crash test"});
                api.post_json(&format!("/v1/traces/incoming/{id}/approve"), &note)
                    .await?;
            }
        }
        Ok(())
    }

    /// Every write of the whole run checked again at the end, records by a random sample.
    async fn final_pass(&mut self) -> Result<()> {
        eprintln!("crash: final check of every acknowledged write");
        self.converge(self.opts.kills + 1).await?;
        for m in 0..MEMBERS {
            let writes = self.ledger[m].clone();
            self.check_writes(m, &writes, Sampling::Random(FINAL_RECORD_SAMPLE))
                .await?;
        }
        self.check_network(self.opts.kills + 1).await
    }

    /// Prints the JSON line and fails when anything was lost or wrong.
    fn report(&mut self, seconds: f64) -> Result<()> {
        let t = &self.tally;
        let result = json!({
            "kills": self.opts.kills,
            "workloads": t.workloads,
            "acknowledged": {
                "records": t.records,
                "notices": t.notices,
                "traces": t.traces,
                "exhibits": t.exhibits,
            },
            "lost": t.lost,
            "announced_missing": t.announced_missing,
            "equivocations": t.equivocations,
            "audit_ok": t.audit_failures == 0,
            "seconds": seconds,
            "import_records": t.records - MEMBERS as u64 * SETUP_RECORDS,
            "records_checked": t.records_checked,
            "head_regressions": t.head_regressions,
            "audit_verify_retried": t.audit_races,
            "failures": t.failures.iter().take(LISTED_FAILURES).collect::<Vec<_>>(),
        });
        println!("{result}");
        if !t.failures.is_empty() {
            bail!("{} failures (see above)", t.failures.len());
        }
        Ok(())
    }
}

/// Records in `writes`.
fn records_in(writes: &[Write]) -> u64 {
    writes
        .iter()
        .map(|w| match w {
            Write::Records { count, .. } => *count,
            _ => 0,
        })
        .sum()
}

/// The seq of `bureau`'s feed in a status answer (0 when it holds none).
fn head_of(status: &Value, bureau: &str) -> u64 {
    status["feeds"][bureau].as_u64().unwrap_or(0)
}

/// A one-line summary of acknowledged writes.
fn describe(writes: &[Write]) -> String {
    let mut tally = Tally::default();
    tally.count(writes);
    format!(
        "acknowledged {} records, {} notices, {} traces, {} exhibits",
        tally.records, tally.notices, tally.traces, tally.exhibits
    )
}
