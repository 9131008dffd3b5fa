//! `striae-bench`: scenario benchmarks of real members in one process. Every scenario prints,
//! as its last line of standard output, one JSON object with its figures.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use rand::{Rng, SeedableRng};
use serde_json::json;
use striae_node::{config::NodeConfig, devnet, store::Store};
use striae_protocol::{
    Body, Entry, EntryId, NoticeContent, NoticeKind, NoticeOp,
    feed::ENTRY_VERSION,
    time::{YEAR_MS, now_ms},
};
use striae_tests::TestNet;

mod analysis;
mod ballistics;
mod cases;
mod crash;
mod firearms;
mod flush;

#[derive(Parser)]
#[command(
    name = "striae-bench",
    about = "Scenario benchmarks; the last line printed is JSON"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N members, M notices from random members; time until the last member has each
    Propagation {
        #[arg(long, default_value_t = 20)]
        nodes: usize,
        #[arg(long, default_value_t = 50)]
        notices: usize,
        /// Members each node dials (a partial mesh keeps file descriptors in check)
        #[arg(long, default_value_t = 8)]
        dials: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A member returns from downtime and pulls E missed entries, verifying every signature
    Catchup {
        #[arg(long, default_value_t = 100_000)]
        entries: u64,
    },
    /// W small writes, each made durable: sled's own flush against the store's flush + fsync
    Flush {
        #[arg(long, default_value_t = 1_000)]
        writes: usize,
    },
    /// Five members; time from opening a case to all its automatic steps done (a firearm
    /// stolen at another member, traced, and a cartridge case confirmed there)
    Case {
        #[arg(long, default_value_t = 30)]
        cases: usize,
    },
    /// Network statistics at one node from members' aggregates: summary and routes over
    /// every month held (median of several runs)
    Analysis {
        #[arg(long, default_value_t = 196)]
        members: usize,
        #[arg(long, default_value_t = 24)]
        months: usize,
    },
    #[command(flatten)]
    Firearms(firearms::Scenario),
    #[command(flatten)]
    Ballistics(ballistics::Scenario),
    /// Members killed with SIGKILL during their writes, restarted, and checked: nothing they
    /// acknowledged is lost, unannounced or announced twice
    Crash(crash::Options),
    /// Runs one member from its config until killed (the member processes of
    /// `crash --members-in-bench`)
    #[command(hide = true)]
    Member {
        #[arg(long)]
        config: std::path::PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.scenario {
            Scenario::Propagation {
                nodes,
                notices,
                dials,
                seed,
            } => propagation(nodes, notices, dials, seed).await,
            Scenario::Catchup { entries } => catchup(entries).await,
            Scenario::Flush { writes } => flush::run(writes),
            Scenario::Case { cases } => cases::run(cases).await,
            Scenario::Analysis { members, months } => analysis::run(members, months),
            Scenario::Firearms(scenario) => firearms::run(scenario).await,
            Scenario::Ballistics(scenario) => ballistics::run(scenario).await,
            Scenario::Crash(options) => crash::run(options).await,
            Scenario::Member { config } => crash::member(config).await,
        }
    })
}

fn bench_tuning(config: &mut NodeConfig) {
    config.tuning.heads_interval = Duration::from_secs(30);
    config.tuning.heads_debounce = Duration::from_secs(1);
    config.tuning.redial_min = Duration::from_millis(500);
    config.tuning.gossip_heartbeat = Duration::from_millis(700);
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn content(i: usize) -> NoticeContent {
    NoticeContent {
        kind: NoticeKind::Orange,
        title: format!("Benchmark notice {i}"),
        summary: "A threat warning of typical length, sent to every member of the network.".into(),
        body: String::new(),
        expires_at_ms: now_ms() + YEAR_MS,
    }
}

async fn propagation(n: usize, m: usize, dials: usize, seed: u64) -> Result<()> {
    if n < 2 {
        bail!("--nodes must be at least 2");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut net = TestNet::create(n);
    net.tune = bench_tuning;
    let bureaus: Vec<_> = net
        .members
        .iter()
        .map(|m| m.bureau_id.parse().expect("devnet bureau id"))
        .collect();
    eprintln!("starting {n} members");
    for i in 0..n {
        let mut config = net.config(i);
        // A ring (so the mesh is connected) plus random chords.
        let mut targets: Vec<usize> = (1..=dials.min(n - 1) / 2).map(|k| (i + k) % n).collect();
        while targets.len() < dials.min(n - 1) {
            let t = rng.gen_range(0..n);
            if t != i && !targets.contains(&t) {
                targets.push(t);
            }
        }
        config.dial_only = Some(targets.iter().map(|t| bureaus[*t]).collect());
        net.nodes[i] = Some(striae_node::node::start(config).await?);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 16);
    for i in 0..n {
        let mut sub = net.node(i).handle.subscribe_applied();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(applied) = sub.recv().await {
                if tx.send((applied.id, applied.at)).await.is_err() {
                    break;
                }
            }
        });
    }
    wait_for_links(&net, dials.min(n - 1)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!("publishing {m} notices");
    let idle_cpu_start = process_cpu_seconds();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_cpu_per_s = process_cpu_seconds() - idle_cpu_start;
    let cpu_start = process_cpu_seconds();
    let publishing = Instant::now();
    let mut latencies = Vec::new();
    let mut delivered_all = true;
    for k in 0..m {
        let from = rng.gen_range(0..n);
        let start = Instant::now();
        let entry = net
            .node(from)
            .handle
            .publish(Body::Notice(NoticeOp::Issue(content(k))))
            .await?;
        let mut seen: HashMap<EntryId, (usize, Instant)> = HashMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if seen.get(&entry.id).is_some_and(|s| s.0 >= n) {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((id, at))) => {
                    let slot = seen.entry(id).or_insert((0, at));
                    slot.0 += 1;
                    slot.1 = slot.1.max(at);
                }
                _ => {
                    delivered_all = false;
                    break;
                }
            }
        }
        match seen.get(&entry.id) {
            Some((count, last)) if *count >= n => {
                let ms = last.duration_since(start).as_secs_f64() * 1000.0;
                tracing::debug!(notice = k, ms, "delivered to every member");
                latencies.push(ms);
            }
            other => eprintln!(
                "notice {k}: reached {} of {n} members in 20 s",
                other.map_or(0, |s| s.0)
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // CPU spent because of the notices: the whole process's CPU time while publishing, less
    // what the idle network (timers, heartbeats, storage flushes) costs over the same time.
    let busy_cpu = process_cpu_seconds() - cpu_start;
    let idle_cpu = idle_cpu_per_s * publishing.elapsed().as_secs_f64();
    let cpu_ms_per_notice = (busy_cpu - idle_cpu).max(0.0) * 1000.0 / m.max(1) as f64;
    latencies.sort_by(f64::total_cmp);
    let result = json!({
        "nodes": n,
        "notices": m,
        "delivered_all": delivered_all && latencies.len() == m,
        "p50_ms": percentile(&latencies, 50.0),
        "p99_ms": percentile(&latencies, 99.0),
        "max_ms": latencies.last().copied().unwrap_or(0.0),
        "cpu_ms_per_notice": cpu_ms_per_notice,
        "idle_cpu_percent": idle_cpu_per_s * 100.0,
    });
    net.shutdown().await;
    println!("{result}");
    Ok(())
}

async fn wait_for_links(net: &TestNet, want: usize) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let mut ok = true;
        for i in 0..net.nodes.len() {
            let peers = net.node(i).handle.net.peers().await.unwrap_or_default();
            if peers.iter().filter(|p| p.connected).count() < want {
                ok = false;
                break;
            }
        }
        if ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("warning: not every member reached {want} links");
}

/// Writes `count` signed entries into the source member's own feed, as if it had published
/// them while the other member was away.
fn preload(store: &Store, signer: &striae_protocol::Signer, count: u64) -> Result<()> {
    let network = striae_protocol::NetworkId::from_name("devnet");
    let mut prev = EntryId::GENESIS;
    let mut batch = Vec::with_capacity(1024);
    for seq in 1..=count {
        let entry = Entry {
            version: ENTRY_VERSION,
            origin: signer.bureau(),
            seq,
            prev,
            timestamp_ms: now_ms(),
            body: Body::Notice(NoticeOp::Issue(content(seq as usize))),
        }
        .sign(signer, &network)?;
        prev = entry.id;
        batch.push(entry);
        if batch.len() == 1024 || seq == count {
            store.put_entries(&batch)?;
            batch.clear();
        }
    }
    store.set_head(&signer.bureau(), count, &prev)?;
    store.flush_blocking()?;
    Ok(())
}

async fn catchup(entries: u64) -> Result<()> {
    let mut net = TestNet::create(2);
    net.tune = bench_tuning;
    let signer = devnet::signer_of(&net.member_dir(0))?;
    eprintln!("writing {entries} signed entries at the source member");
    {
        let store = Store::open(&net.config(0).data_dir.join("db")).context("open source store")?;
        preload(&store, &signer, entries)?;
    }
    net.start_member(0).await;
    let start = Instant::now();
    let cpu_start = process_cpu_seconds();
    net.start_member(1).await;
    let returning = net.node(1).handle.clone();
    let origin = signer.bureau();
    loop {
        if returning.store.head(&origin)?.map(|h| h.0) == Some(entries) {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("catch-up did not finish in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    let metrics = returning.metrics.render();
    let rejected = metrics
        .lines()
        .any(|l| l.starts_with("striae_entries_rejected_total"));
    let held = (1..=entries)
        .step_by((entries / 1000).max(1) as usize)
        .all(|s| returning.store.entry(&origin, s).ok().flatten().is_some());
    let result = json!({
        "entries": entries,
        "seconds": seconds,
        "entries_per_s": entries as f64 / seconds,
        "verified_all": !rejected && held,
        "cpu_seconds": cpu_seconds,
    });
    net.shutdown().await;
    println!("{result}");
    Ok(())
}

/// CPU time (user + system) this process has used, in seconds: with the wall time it tells
/// whether a scenario was bound by the processors or by waiting.
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit(") ").next() else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}
