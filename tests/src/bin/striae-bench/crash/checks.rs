//! After each restart: every acknowledged write present, announced and seen by the peers; no equivocation; every audit log whole.

use super::*;

impl Harness {
    /// `GET /v1/audit/verify` at `member`. The node compares the records it read with its
    /// count of records written after reading them, so a record written meanwhile makes a
    /// whole log look short: such an answer is asked again (a log that lost its tail stays
    /// short), and counted.
    pub(super) async fn verify_audit(&mut self, member: usize) -> Result<Answer> {
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
    pub(super) async fn check_network(&mut self, number: usize) -> Result<()> {
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
    pub(super) async fn check_writes(
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

    pub(super) async fn check_notice(
        &mut self,
        member: usize,
        id: &str,
        title: &str,
    ) -> Result<()> {
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
    pub(super) fn sample_records(&mut self, writes: &[Write], sampling: Sampling) -> Vec<u64> {
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
    pub(super) async fn check_records(&mut self, member: usize, sample: &[u64]) -> Result<()> {
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
    pub(super) async fn check_hit(
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
    pub(super) async fn check_exhibits(
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
    pub(super) async fn check_traces(&mut self, member: usize, traces: &[String]) -> Result<()> {
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
    pub(super) async fn approve_reviews(&self) -> Result<()> {
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
    pub(super) async fn final_pass(&mut self) -> Result<()> {
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
    pub(super) fn report(&mut self, seconds: f64) -> Result<()> {
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
pub(super) fn records_in(writes: &[Write]) -> u64 {
    writes
        .iter()
        .map(|w| match w {
            Write::Records { count, .. } => *count,
            _ => 0,
        })
        .sum()
}

/// The seq of `bureau`'s feed in a status answer (0 when it holds none).
pub(super) fn head_of(status: &Value, bureau: &str) -> u64 {
    status["feeds"][bureau].as_u64().unwrap_or(0)
}

/// A one-line summary of acknowledged writes.
pub(super) fn describe(writes: &[Write]) -> String {
    let mut tally = Tally::default();
    tally.count(writes);
    format!(
        "acknowledged {} records, {} notices, {} traces, {} exhibits",
        tally.records, tally.notices, tally.traces, tally.exhibits
    )
}
