//! Firearm scenarios: import throughput, check latency with many digests held, trace round
//! trips.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use futures::StreamExt;
use rand::SeedableRng;
use serde_json::{Value, json};
use striae_firearms_lib::confusable_fold;
use striae_node::{devnet, store::Store};
use striae_protocol::{
    Body, Entry, EntryId,
    feed::ENTRY_VERSION,
    firearm::{DigestKey, DigestStatus, FirearmDigest, MAX_DIGESTS_PER_ENTRY, RecordRef},
    time::now_ms,
};
use striae_tests::TestNet;

use crate::{bench_tuning, percentile};

#[derive(Subcommand)]
pub enum Scenario {
    /// Records per second through the import API into storage, digests published
    Import {
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        /// Records per request (the CLI sends large files in chunks the same way)
        #[arg(long, default_value_t = 50_000)]
        chunk: u64,
    },
    /// Check latency over the API with D foreign digests held
    Check {
        #[arg(long, default_value_t = 1_000_000)]
        digests: u64,
        /// Checks timed
        #[arg(long, default_value_t = 5_000)]
        checks: usize,
    },
    /// Round trip of automatically answered traces between two members
    Trace {
        #[arg(long, default_value_t = 200)]
        traces: usize,
    },
    /// Serial-pattern queries from one member answered by a holder of R records
    Query {
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        /// Queries timed
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
}

pub async fn run(scenario: Scenario) -> Result<()> {
    match scenario {
        Scenario::Import { records, chunk } => import(records, chunk).await,
        Scenario::Check { digests, checks } => check(digests, checks).await,
        Scenario::Trace { traces } => trace(traces).await,
        Scenario::Query { records, queries } => query(records, queries).await,
    }
}

/// Make, model, caliber and type of the generated records, in turn.
pub(crate) const TEMPLATES: [(&str, &str, &str, &str); 6] = [
    ("Glock", "17", "9x19mm", "pistol"),
    ("Beretta", "92FS", "9mm Luger", "pistol"),
    ("Smith & Wesson", "Model 10", ".38 Special", "revolver"),
    ("Kalashnikov Concern", "AKM", "7.62x39mm", "assault rifle"),
    ("Remington", "870", "12 gauge", "shotgun"),
    ("Walther", "PPK", ".380 ACP", "pistol"),
];

fn csv_chunk(from: u64, to: u64) -> String {
    let mut out = String::from("make,model,caliber,serial,type,status,event_date,case_ref\n");
    for i in from..to {
        let (make, model, caliber, kind) = TEMPLATES[(i % TEMPLATES.len() as u64) as usize];
        out.push_str(&format!(
            "{make},{model},{caliber},BN-{i:09},{kind},stolen,2024-0{}-1{},CASE-{i}\n",
            1 + i % 9,
            i % 10
        ));
    }
    out
}

async fn post_raw(
    http: &reqwest::Client,
    net: &TestNet,
    i: usize,
    path: &str,
    content_type: &str,
    body: String,
) -> Result<Value> {
    let r = http
        .post(format!("http://{}{path}", net.node(i).api_addr))
        .bearer_auth(&net.members[i].token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let value: Value = r.json().await?;
    if !status.is_success() {
        bail!("{path}: {status} {value}");
    }
    Ok(value)
}

async fn import(records: u64, chunk: u64) -> Result<()> {
    let mut net = TestNet::create(1);
    net.tune = bench_tuning;
    net.start_member(0).await;
    let http = reqwest::Client::new();
    // Bodies are generated ahead, so the timing covers the node only.
    let bodies: Vec<String> = (0..records)
        .step_by(chunk.max(1) as usize)
        .map(|from| csv_chunk(from, (from + chunk).min(records)))
        .collect();
    eprintln!("importing {records} records in {} requests", bodies.len());
    let start = Instant::now();
    // Two requests in flight, as `striae firearm import` sends them: the node validates one
    // while it writes the other.
    let outcomes: Vec<Result<Value>> = futures::stream::iter(bodies)
        .map(|body| post_raw(&http, &net, 0, "/v1/firearms/import", "text/csv", body))
        .buffer_unordered(2)
        .collect()
        .await;
    let mut imported = 0u64;
    for outcome in outcomes {
        imported += outcome?["imported"].as_u64().unwrap_or(0);
    }
    let seconds = start.elapsed().as_secs_f64();
    let (_, index) = net.get(0, "/v1/firearms/index").await;
    if imported != records || index["digests"].as_u64() != Some(records) {
        bail!("imported {imported} of {records}; index {index}");
    }
    net.shutdown().await;
    println!(
        "{}",
        json!({"records": records, "seconds": seconds, "records_per_s": records as f64 / seconds})
    );
    Ok(())
}

fn bench_serial(i: u64) -> String {
    format!("SN{i:010}")
}

/// Writes `count` digests of the second member's records into the first member's store, as
/// signed entries of the second member's feed, as if replicated earlier.
fn preload_digests(net: &TestNet, count: u64) -> Result<()> {
    let signer = devnet::signer_of(&net.member_dir(1))?;
    let config = net.config(0);
    let key = DigestKey::from_psk(&config.roster.psk);
    let network = config.roster.network_id;
    let store = Store::open(&config.data_dir.join("db")).context("open the member's store")?;
    let mut prev = EntryId::GENESIS;
    let mut seq = 0u64;
    let mut batch = Vec::new();
    let mut next = 0u64;
    while next < count {
        let end = (next + MAX_DIGESTS_PER_ENTRY as u64).min(count);
        let digests: Vec<FirearmDigest> = (next..end)
            .map(|i| {
                let serial = bench_serial(i);
                let mut record_ref = [0u8; 16];
                record_ref[..8].copy_from_slice(&i.to_le_bytes());
                FirearmDigest {
                    exact: key.exact("make:glock", &serial),
                    confusable: key.confusable("make:glock", &confusable_fold(&serial)),
                    status: DigestStatus::Stolen,
                    record_ref: RecordRef(record_ref),
                }
            })
            .collect();
        next = end;
        seq += 1;
        let entry = Entry {
            version: ENTRY_VERSION,
            origin: signer.bureau(),
            seq,
            prev,
            timestamp_ms: now_ms(),
            body: Body::FirearmDigests(digests),
        }
        .sign(&signer, &network)?;
        prev = entry.id;
        batch.push(entry);
        if batch.len() == 16 || next == count {
            store.put_entries(&batch)?;
            batch.clear();
            eprint!("\r{next} digests written");
        }
    }
    eprintln!();
    store.set_head(&signer.bureau(), seq, &prev)?;
    store.flush_blocking()?;
    Ok(())
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn check(digests: u64, checks: usize) -> Result<()> {
    let mut net = TestNet::create(2);
    net.tune = bench_tuning;
    eprintln!("writing {digests} signed digests of DE into FR's store");
    preload_digests(&net, digests)?;
    let rss_before = rss_mb();
    let start = Instant::now();
    net.start_member(0).await;
    let rebuild_seconds = start.elapsed().as_secs_f64();
    let (_, index) = net.get(0, "/v1/firearms/index").await;
    if index["digests"].as_u64() != Some(digests) {
        bail!("the index holds {index}, not {digests} digests");
    }
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/firearms/check", net.node(0).api_addr);
    let token = net.members[0].token.clone();
    let mut latencies = Vec::with_capacity(checks);
    let mut found = 0usize;
    for k in 0..checks + 200 {
        // Half the queries are held serials (written differently), half are not.
        let i = (k as u64).wrapping_mul(2_654_435_761) % digests.max(1);
        let serial = if k % 2 == 0 {
            format!("sn-{i:010}")
        } else {
            format!("XX{i:010}")
        };
        let t = Instant::now();
        let v: Value = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"make": "Glock GmbH", "serial": serial}))
            .send()
            .await?
            .json()
            .await?;
        let us = t.elapsed().as_secs_f64() * 1e6;
        // The first requests warm the connection up.
        if k >= 200 {
            latencies.push(us);
            found += usize::from(v["hits"].as_array().is_some_and(|h| !h.is_empty()));
        }
    }
    if found != checks / 2 {
        bail!("{found} of {} held serials found", checks / 2);
    }
    latencies.sort_by(f64::total_cmp);
    let rss = rss_mb();
    let result = json!({
        "digests": digests,
        "p50_us": percentile(&latencies, 50.0),
        "p99_us": percentile(&latencies, 99.0),
        "rss_mb": rss,
        "rss_before_start_mb": rss_before,
        "index_mb": index["memory_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
        "rebuild_seconds": rebuild_seconds,
    });
    net.shutdown().await;
    println!("{result}");
    Ok(())
}

async fn trace(traces: usize) -> Result<()> {
    let mut net = TestNet::create(2);
    net.tune = bench_tuning;
    net.start_member(0).await;
    net.start_member(1).await;
    if !striae_tests::wait_connected(&net, Duration::from_secs(30)).await {
        bail!("members did not connect");
    }
    let http = reqwest::Client::new();
    let records: String = (0..traces)
        .map(|i| format!("{{\"make\":\"Beretta\",\"model\":\"92FS\",\"caliber\":\"9x19mm\",\"serial\":\"TR-{i:06}\",\"type\":\"pistol\",\"status\":\"stolen\",\"history\":[{{\"date\":\"2015-01-01\",\"event\":\"manufactured\",\"party\":\"Beretta\",\"country\":\"IT\"}},{{\"date\":\"2016-01-01\",\"event\":\"sold\",\"party\":\"Armeria Roma\",\"country\":\"IT\"}}]}}\n"))
        .collect();
    post_raw(
        &http,
        &net,
        1,
        "/v1/firearms/import",
        "application/x-ndjson",
        records,
    )
    .await?;
    let last = format!("TR-{:06}", traces - 1);
    let arrived = striae_tests::eventually(Duration::from_secs(30), || async {
        let (_, v) = net
            .post(
                0,
                "/v1/firearms/check",
                &json!({"make": "Beretta", "serial": last}),
            )
            .await;
        v["hits"].as_array().is_some_and(|h| !h.is_empty())
    })
    .await;
    if !arrived {
        bail!("digests did not reach the requester");
    }
    let base = format!("http://{}", net.node(0).api_addr);
    let token = net.members[0].token.clone();
    let mut latencies = Vec::with_capacity(traces);
    for i in 0..traces {
        let t = Instant::now();
        let started: Value = http
            .post(format!("{base}/v1/traces"))
            .bearer_auth(&token)
            .json(&json!({"make": "Beretta", "serial": format!("TR-{i:06}"),
                          "case_ref": format!("BENCH-{i}"), "reason": "benchmark"}))
            .send()
            .await?
            .json()
            .await?;
        let id = started["id"].as_str().context("no trace id")?.to_string();
        loop {
            let v: Value = http
                .get(format!("{base}/v1/traces/{id}"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            if v["state"] == "complete" {
                if v["responses"][0]["outcome"] != "found"
                    || v["responses"][0]["signature_valid"] != true
                {
                    bail!("trace {i} did not come back found and verified: {v}");
                }
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("trace {i} did not complete in 30 s: {v}");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    net.shutdown().await;
    println!(
        "{}",
        json!({"traces": traces, "p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0)})
    );
    Ok(())
}

fn query_tuning(config: &mut striae_node::config::NodeConfig) {
    crate::bench_tuning(config);
    config.queries.per_member_per_hour = 1_000_000;
}

/// A pattern for record `i` of `csv_chunk` (`BN-000123456`): one digit unknown and the last
/// a run (`BN0001?345*`), or every fourth the head a run (`*001?3456`), which makes the
/// holder try every start.
fn bench_pattern(i: u64) -> String {
    let serial = format!("BN{i:09}");
    let mut chars: Vec<char> = serial.chars().collect();
    chars[6] = '?';
    let text: String = chars.into_iter().collect();
    if i.is_multiple_of(4) {
        format!("*{}", &text[4..])
    } else {
        format!("{}*", &text[..10])
    }
}

async fn query(records: u64, queries: usize) -> Result<()> {
    let mut net = TestNet::create(2);
    net.tune = query_tuning;
    net.start_member(0).await;
    net.start_member(1).await;
    if !striae_tests::wait_connected(&net, Duration::from_secs(30)).await {
        bail!("members did not connect");
    }
    let http = reqwest::Client::new();
    let chunk = 50_000u64;
    eprintln!("importing {records} records at the holder");
    for from in (0..records).step_by(chunk as usize) {
        let body = csv_chunk(from, (from + chunk).min(records));
        post_raw(&http, &net, 1, "/v1/firearms/import", "text/csv", body).await?;
    }
    // Timed once the holder's digests have replicated, so the disks are quiet.
    let replicated = striae_tests::eventually(Duration::from_secs(600), || async {
        net.get(0, "/v1/firearms/index").await.1["digests"].as_u64() == Some(records)
    })
    .await;
    if !replicated {
        bail!("the holder's digests did not reach the requester");
    }
    let base = format!("http://{}", net.node(0).api_addr);
    let token = net.members[0].token.clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut latencies = Vec::with_capacity(queries);
    let mut first_ms = 0.0;
    let mut matched = 0usize;
    for n in 0..=queries {
        let i = rand::Rng::gen_range(&mut rng, 0..records);
        let (make, ..) = TEMPLATES[(i % TEMPLATES.len() as u64) as usize];
        let t = Instant::now();
        let started: Value = http
            .post(format!("{base}/v1/queries"))
            .bearer_auth(&token)
            .json(&json!({"make": make, "serial_pattern": bench_pattern(i),
                          "case_ref": format!("BENCH-{n}"), "reason": "benchmark"}))
            .send()
            .await?
            .json()
            .await?;
        let id = started["id"].as_str().context("no query id")?.to_string();
        let answer = loop {
            let v: Value = http
                .get(format!("{base}/v1/queries/{id}"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            if v["state"] == "answered" {
                break v;
            }
            if t.elapsed() > Duration::from_secs(120) {
                bail!("query {n} was not answered in 120 s: {v}");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let found = answer["answers"][0]["matches"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["serial"] == format!("BN{i:09}")));
        if !found {
            bail!("query {n} did not find record {i}: {answer}");
        }
        matched += answer["answers"][0]["matches"]
            .as_array()
            .map_or(0, Vec::len);
        // The first query waits for the holder to read its records' serials.
        if n == 0 {
            first_ms = ms;
        } else {
            latencies.push(ms);
        }
    }
    latencies.sort_by(f64::total_cmp);
    net.shutdown().await;
    println!(
        "{}",
        json!({"records": records, "queries": queries, "first_query_ms": first_ms,
               "p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0),
               "mean_matches": matched as f64 / (queries + 1) as f64})
    );
    Ok(())
}
