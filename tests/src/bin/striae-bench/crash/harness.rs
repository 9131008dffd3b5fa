//! The loop: rounds of a workload, a kill at a random moment, a restart.

use super::*;

/// What the loop found.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) workloads: BTreeMap<&'static str, u64>,
    pub(super) records: u64,
    pub(super) notices: u64,
    pub(super) traces: u64,
    pub(super) exhibits: u64,
    pub(super) equivocations: u64,
    pub(super) records_checked: u64,
    pub(super) lost: u64,
    pub(super) announced_missing: u64,
    pub(super) head_regressions: u64,
    pub(super) audit_failures: u64,
    pub(super) audit_races: u64,
    pub(super) refusals: u64,
    pub(super) failures: Vec<String>,
    pub(super) failed_writes: BTreeSet<String>,
}

impl Tally {
    pub(super) fn count(&mut self, writes: &[Write]) {
        for write in writes {
            match write {
                Write::Records { count, .. } => self.records += count,
                Write::Notice { .. } => self.notices += 1,
                Write::Trace { .. } => self.traces += 1,
                Write::Exhibit { .. } => self.exhibits += 1,
            }
        }
    }

    pub(super) fn fail(&mut self, text: String) {
        eprintln!("FAILURE: {text}");
        self.failures.push(text);
    }

    /// Whether the write `text` is about ("notice <id>", "record <serial>", ...) is counted
    /// for the first time: a write found wrong in its round and again in the final pass, or
    /// at both peers, counts once.
    pub(super) fn first_time(&mut self, text: &str) -> bool {
        let write: Vec<&str> = text.split_whitespace().take(2).collect();
        self.failed_writes.insert(write.join(" "))
    }

    pub(super) fn lose(&mut self, text: String) {
        if self.first_time(&text) {
            self.lost += 1;
            self.fail(format!("lost: {text}"));
        }
    }

    pub(super) fn unannounced(&mut self, text: String) {
        if self.first_time(&text) {
            self.announced_missing += 1;
            self.fail(format!("not announced: {text}"));
        }
    }
}

/// How thoroughly the records of a list of writes are checked.
#[derive(Clone, Copy)]
pub(super) enum Sampling {
    /// The first and last record of every batch and `n` more at random.
    EndsAnd(usize),
    /// `n` records at random.
    Random(usize),
}

pub(super) struct Harness {
    pub(super) opts: Options,
    pub(super) launcher: Launcher,
    pub(super) members: Vec<Member>,
    pub(super) fixtures: Arc<Fixtures>,
    /// Every acknowledged write, by member.
    pub(super) ledger: Vec<Vec<Write>>,
    pub(super) tally: Tally,
    pub(super) rng: StdRng,
    pub(super) import_rate: f64,
}

/// The `striae` binary of `--striae` or next to this program, or this program.
pub(super) fn launcher(opts: &Options) -> Result<Launcher> {
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
    pub(super) async fn start(
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

    pub(super) fn wait(&self) -> Duration {
        Duration::from_secs(self.opts.wait)
    }

    /// Each member imports a few records that the trace rounds ask the others about.
    pub(super) async fn setup_records(&mut self) -> Result<()> {
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

    pub(super) async fn run_rounds(&mut self) -> Result<()> {
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
    pub(super) async fn round(
        &mut self,
        number: usize,
        workload: Workload,
        share: u64,
    ) -> Result<()> {
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
    pub(super) fn spawn_workload(
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
    pub(super) fn acknowledged(&mut self, member: usize, writes: &[Write]) {
        self.tally.count(writes);
        self.ledger[member].extend_from_slice(writes);
    }

    /// The delay before the kill, an import's estimated at the rate measured so far.
    pub(super) fn delay(&mut self, workload: Workload, share: u64) -> Duration {
        let (low, high) = workload.delay_range(share as f64 / self.import_rate);
        Duration::from_secs_f64(self.rng.gen_range(low..high))
    }

    /// Keeps the import rate of a killed import round for the next one's delay. A share that
    /// was all imported before the kill only shows that the rate was at least that.
    pub(super) fn note_import_rate(&mut self, share: u64, writes: &[Write], elapsed: Duration) {
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
    pub(super) async fn finish_import(&self, victim: usize, count: u64) -> Result<Vec<Write>> {
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

    pub(super) async fn restart(&mut self, victim: usize) -> Result<()> {
        let wait = self.wait();
        let launcher = self.launcher.clone();
        let member = &mut self.members[victim];
        member.start(&launcher)?;
        member.wait_ready(wait).await
    }

    /// The highest seq of `victim`'s feed that a peer holds.
    pub(super) async fn peers_view_of(&self, victim: usize) -> Result<u64> {
        let mut highest = 0;
        for peer in self.peers(victim) {
            let status = self.status(peer).await?;
            highest = highest.max(head_of(&status, &self.members[victim].line.bureau_id));
        }
        Ok(highest)
    }

    /// A member that comes back holding less of its own feed than its peers received from it
    /// lost entries it had announced: the next ones it signs would equivocate.
    pub(super) async fn check_head(
        &mut self,
        number: usize,
        victim: usize,
        announced: u64,
    ) -> Result<()> {
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

    pub(super) fn peers(&self, member: usize) -> impl Iterator<Item = usize> + use<> {
        (0..MEMBERS).filter(move |m| *m != member)
    }

    pub(super) async fn status(&self, member: usize) -> Result<Value> {
        let answer = self.members[member].api.get("/v1/status").await?;
        if !answer.ok() {
            bail!("status of member {member}: {}", answer.status);
        }
        Ok(answer.body)
    }

    /// Waits until every member holds every member's feed up to that member's own head; a
    /// network that does not get there in time is a failure of round `number`.
    pub(super) async fn converge(&mut self, number: usize) -> Result<()> {
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
    pub(super) fn lagging(&self, statuses: &[Value]) -> Vec<String> {
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
}
