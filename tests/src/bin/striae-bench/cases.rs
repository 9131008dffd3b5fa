//! Case scenario: the time from `POST /v1/cases` to every automatic step done (own records,
//! network check and trace, ballistic search with confirmation at the holder), five members
//! on loopback with automatic policies.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use striae_ballistics_lib::{
    eval::find_dataset,
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::write_x3p,
};
use striae_tests::TestNet;

use crate::{bench_tuning, percentile};

const FR: usize = 0;
const DE: usize = 1;

/// A cartridge case: Fadul slide 1 when the scans are found, else a synthetic one.
fn scan(shot: u64) -> (Vec<u8>, &'static str) {
    let dir =
        find_dataset(env!("CARGO_MANIFEST_DIR")).filter(|d| d.join("fadul-1-1.x3p").is_file());
    match dir.and_then(|d| std::fs::read(d.join(format!("fadul-1-{shot}.x3p"))).ok()) {
        Some(bytes) => (bytes, "fadul"),
        None => {
            let params = SyntheticParams {
                size: 272,
                pixel_um: 12.5,
                ..SyntheticParams::default()
            };
            (write_x3p(&synthetic_scan(3, 1, shot, &params)), "synthetic")
        }
    }
}

async fn post_bytes(
    net: &TestNet,
    i: usize,
    path: &str,
    ctype: &str,
    body: Vec<u8>,
) -> Result<Value> {
    let r = reqwest::Client::new()
        .post(format!("http://{}{path}", net.node(i).api_addr))
        .bearer_auth(&net.members[i].token)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("{path}: {status} {v}");
    }
    Ok(v)
}

pub async fn run(cases: usize) -> Result<()> {
    let mut net = TestNet::create(5);
    net.tune = bench_tuning;
    for i in 0..5 {
        net.start_member(i).await;
    }
    if !striae_tests::wait_connected(&net, Duration::from_secs(60)).await {
        bail!("members did not connect");
    }
    let records: String = (0..cases)
        .map(|i| json!({"make": "Walther", "model": "P99", "caliber": "9x19mm", "serial": format!("CB-{i:06}"),
            "type": "pistol", "status": "stolen", "history": [
                {"date": "2021-01-01", "event": "manufactured", "party": "Carl Walther GmbH", "country": "DE"},
                {"date": "2022-03-01", "event": "sold", "party": "Waffen Schmidt KG", "country": "DE"}]}).to_string() + "\n")
        .collect();
    post_bytes(
        &net,
        DE,
        "/v1/firearms/import",
        "application/x-ndjson",
        records.into_bytes(),
    )
    .await?;
    let (ours, source) = scan(1);
    let exhibit = "/v1/ballistics?kind=cartridge_case&caliber=9mm%20Luger&case_ref=BENCH";
    let ours = post_bytes(&net, FR, exhibit, "application/octet-stream", ours).await?["id"]
        .as_str()
        .context("no exhibit id")?
        .to_string();
    post_bytes(&net, DE, exhibit, "application/octet-stream", scan(2).0).await?;
    let last = format!("CB-{:06}", cases - 1);
    let ready = striae_tests::eventually(Duration::from_secs(120), || async {
        let (_, hits) = net
            .post(
                FR,
                "/v1/firearms/check",
                &json!({"make": "Walther", "serial": last}),
            )
            .await;
        let (_, s) = net
            .post(
                FR,
                &format!("/v1/ballistics/{ours}/search?confirm=0"),
                &Value::Null,
            )
            .await;
        hits["hits"].as_array().is_some_and(|h| !h.is_empty())
            && s["candidates"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["country"] == "DE"))
    })
    .await;
    if !ready {
        bail!("the records and exhibits did not reach FR");
    }
    let mut latencies = Vec::with_capacity(cases);
    for i in 0..cases {
        let body = json!({"case_ref": format!("BENCH-{i}"), "title": "benchmark",
            "recovered": {"date": "2024-06-01", "country": "FR"},
            "firearm": {"make": "Walther", "serial": format!("CB-{i:06}")},
            "exhibits": [ours]});
        let t = Instant::now();
        let (code, created) = net.post(FR, "/v1/cases", &body).await;
        if code != 201 {
            bail!("case {i}: {code} {created}");
        }
        let id = created["id"].as_str().context("no case id")?.to_string();
        let case = loop {
            let (_, v) = net.get(FR, &format!("/v1/cases/{id}")).await;
            if v["state"] == "done" {
                break v;
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!("case {i} not done in 60 s: {v}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        let kinds: Vec<&str> = case["leads"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["kind"].as_str())
            .collect();
        if !kinds.contains(&"trace_record") || !kinds.contains(&"ballistic_link") {
            bail!("case {i} lacks its trace or ballistic link: {case}");
        }
    }
    latencies.sort_by(f64::total_cmp);
    net.shutdown().await;
    println!(
        "{}",
        json!({"members": 5, "cases": cases, "scans": source,
               "p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0)})
    );
    Ok(())
}
