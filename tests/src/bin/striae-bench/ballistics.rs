//! Ballistic scenarios: screening throughput, confirmation time at a holder, and accuracy on
//! a folder of real scans.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use striae_ballistics_lib::{
    eval::{
        ConfirmScope, EvalParams, cross_validate_by_gun, leave_one_out, load_dataset, load_scans,
    },
    preprocess::{PrepParams, prepare},
    signature::{DIGEST_BYTES, digest, random_digest},
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::{read_x3p, write_x3p},
};
use striae_node::ballistics::{AddRequest, Held, ScreeningIndex, add_exhibit, probe_from_surface};
use striae_protocol::{
    BureauId, SignedMessage, SyncRequest, SyncResponse,
    ballistic::{Comparison, ConfirmRequest, ConfirmResponse, EvidenceKind, ExhibitRef},
    firearm::RecordRef,
    time::now_ms,
};
use striae_tests::{TestNet, wait_connected};

#[derive(Subcommand)]
pub enum Scenario {
    /// One probe screened against D digests held (the node's screening index)
    Screen {
        #[arg(long, default_value_t = 100_000)]
        digests: u64,
        /// Timed searches (the median is reported)
        #[arg(long, default_value_t = 7)]
        runs: usize,
    },
    /// A holder confirms K candidates against one probe sent by another member
    Confirm {
        #[arg(long, default_value_t = 10)]
        candidates: usize,
        /// Timed confirmations (the median is reported)
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Leave-one-out accuracy of screening and confirmation on a folder of X3P scans named
    /// `name-G-S.x3p` (G = gun); with `--kind bullet`, every bullet against every other on
    /// land scans named `STUDY-barrelB-bulletN-landL.x3p`
    Accuracy {
        #[arg(long)]
        dataset: std::path::PathBuf,
        /// `cartridge_case` or `bullet`
        #[arg(long, default_value = "cartridge_case")]
        kind: String,
        /// Confirm only each probe's top-K screening candidates (as a node does) instead of
        /// every pair
        #[arg(long)]
        top: Option<usize>,
    },
}

pub async fn run(scenario: Scenario) -> Result<()> {
    match scenario {
        Scenario::Screen { digests, runs } => screen(digests, runs).await,
        Scenario::Confirm { candidates, runs } => confirm(candidates, runs).await,
        Scenario::Accuracy { dataset, kind, top } => match kind.as_str() {
            "cartridge_case" => accuracy(dataset, top).await,
            "bullet" => bullet_accuracy(dataset).await,
            other => bail!("--kind must be cartridge_case or bullet, not {other}"),
        },
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

async fn screen(digests: u64, runs: usize) -> Result<()> {
    if digests == 0 || runs == 0 {
        bail!("--digests and --runs must be at least 1");
    }
    let result = tokio::task::spawn_blocking(move || {
        eprintln!("building an index of {digests} digests");
        // 195 holders; a pool of distinct random digests cycled (the scan reads every row from
        // memory either way, and building a million digests from scans would take hours).
        let origins: Vec<BureauId> = (0..195u32)
            .map(|i| striae_protocol::Signer::from_seed([i as u8 + 1; 32]).bureau())
            .collect();
        let pool: Vec<_> = (0..4096).map(random_digest).collect();
        let mut index = ScreeningIndex::new();
        for i in 0..digests {
            let mut r = [0u8; 16];
            r[..8].copy_from_slice(&i.to_le_bytes());
            index.insert(
                Held {
                    origin: origins[(i % 195) as usize],
                    exhibit_ref: RecordRef(r),
                    kind: EvidenceKind::CartridgeCase,
                    caliber_class: "cal:9x19".into(),
                },
                &pool[(i % pool.len() as u64) as usize],
            );
        }
        // The probe as a node screens with it: a prepared scan described at every probe
        // centre (the held digests are the shared, single-centre form).
        let scan = read_x3p(&case(1, 1)).context("synthetic probe")?;
        let surface = prepare(&scan, &PrepParams::default()).context("probe preparation")?;
        let probe = digest(&surface);
        let search = || index.search(&probe, EvidenceKind::CartridgeCase, "cal:9x19", None, 10);
        let _ = search();
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let hits = search();
            times.push(t.elapsed().as_secs_f64());
            assert_eq!(hits.len(), 10.min(digests as usize));
        }
        let secs = median(times);
        Ok::<_, anyhow::Error>(json!({
            "digests": digests,
            "digest_bytes": DIGEST_BYTES,
            "ms_per_probe": (secs * 1e6).round() / 1e3,
            "gb_per_s": ((index.scanned_bytes() as f64 / secs / 1e9) * 100.0).round() / 100.0,
            "probe_centres": probe.probe_views(),
            "runs": runs,
        }))
    })
    .await??;
    println!("{result}");
    Ok(())
}

/// Fadul-sized synthetic cartridge case (545 x 545 at 6.25 µm), as a file.
fn case(gun: u64, shot: u64) -> Vec<u8> {
    let params = SyntheticParams {
        size: 545,
        ..SyntheticParams::default()
    };
    write_x3p(&synthetic_scan(3, gun, shot, &params))
}

async fn confirm(k: usize, runs: usize) -> Result<()> {
    if !(1..=striae_protocol::ballistic::MAX_CONFIRM_EXHIBITS).contains(&k) || runs == 0 {
        bail!("--candidates must be 1 to 64 and --runs at least 1");
    }
    let net = TestNet::start(2).await;
    if !wait_connected(&net, std::time::Duration::from_secs(30)).await {
        bail!("members did not connect");
    }
    let (searcher, holder) = (&net.node(0).handle, &net.node(1).handle);
    eprintln!("adding {k} exhibits at the holder");
    let mut refs = Vec::new();
    for gun in 1..=k as u64 {
        let request = AddRequest {
            kind: Some("cartridge_case".into()),
            caliber: Some("9x19".into()),
            case_ref: Some(format!("BENCH-{gun}")),
            share: None,
        };
        let (record, _) = add_exhibit(&holder.ballistics, request, case(gun, 1))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        refs.push(ExhibitRef::from_hex(&record.id).context("exhibit id")?);
    }
    let scan = striae_ballistics_lib::x3p::read_x3p(&case(1, 2))?;
    let probe = probe_from_surface(&prepare(&scan, &PrepParams::default())?);
    let mut round_trips = Vec::new();
    let mut counts = Vec::new();
    for run in 0..=runs {
        let request = ConfirmRequest {
            search_id: rand::random(),
            requester: searcher.me,
            issued_at_ms: now_ms(),
            case_ref: "BENCH".into(),
            probe: probe.clone(),
            exhibits: refs.clone(),
            acting: String::new(),
        };
        let message = SignedMessage::sign(&request, &searcher.signer, &searcher.network)?;
        let t = Instant::now();
        let answer = searcher
            .ask(&holder.me, SyncRequest::Confirm(message))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let secs = t.elapsed().as_secs_f64();
        let SyncResponse::Confirm(signed) = answer else {
            bail!("the holder did not confirm: {answer:?}");
        };
        let response: ConfirmResponse = signed.open(&searcher.network)?;
        counts = response
            .results
            .iter()
            .map(|(_, c)| match c {
                Comparison::Compared { cmc_count, .. } => i64::from(*cmc_count),
                _ => -1,
            })
            .collect::<Vec<_>>();
        // The first round warms caches and is not counted.
        if run > 0 {
            round_trips.push(secs);
        }
    }
    let result = json!({
        "candidates": k,
        "seconds": (median(round_trips) * 1000.0).round() / 1000.0,
        "runs": runs,
        "probe_points": probe.z.len(),
        "cmc_counts": counts,
    });
    net.shutdown().await;
    println!("{result}");
    Ok(())
}

async fn accuracy(dataset: std::path::PathBuf, top: Option<usize>) -> Result<()> {
    let result = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        let t = Instant::now();
        let scans = load_dataset(&dataset, &PrepParams::default())?;
        if scans.len() < 2 {
            bail!(
                "{}: fewer than two scans named name-G-S.x3p",
                dataset.display()
            );
        }
        let params = EvalParams {
            scope: top.map_or(ConfirmScope::AllPairs, ConfirmScope::TopCandidates),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ..EvalParams::default()
        };
        let report = leave_one_out(&scans, &params);
        let mut v = serde_json::to_value(&report)?;
        // Screening cross-validated by gun (5 folds), under perturbations that imitate
        // other labs' scans.
        let raw = load_scans(&dataset)?;
        v["screening_validation"] =
            serde_json::to_value(cross_validate_by_gun(&raw, 5, params.threads))?;
        v["dataset"] = json!(dataset.display().to_string());
        v["seconds"] = json!((t.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        Ok(v)
    })
    .await??;
    println!("{result}");
    Ok(())
}

async fn bullet_accuracy(dataset: std::path::PathBuf) -> Result<()> {
    use striae_ballistics_lib::bullet::eval::{evaluate, load_bullets};
    let result = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        let t = Instant::now();
        let bullets = load_bullets(&dataset)?;
        if bullets.len() < 2 {
            bail!(
                "{}: fewer than two bullets named STUDY-barrelB-bulletN-landL.x3p",
                dataset.display()
            );
        }
        let mut v = serde_json::to_value(evaluate(&bullets))?;
        v["dataset"] = json!(dataset.display().to_string());
        v["seconds"] = json!((t.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        Ok(v)
    })
    .await??;
    println!("{result}");
    Ok(())
}
