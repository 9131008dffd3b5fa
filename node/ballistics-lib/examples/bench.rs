//! Throughput of screening and confirmation. Prints two JSON lines:
//! `{"digests","digest_bytes","ms_per_probe","gb_per_s"}` for one probe scanned against N
//! random digests (N = argv[1], default 1,000,000), and `{"candidates","seconds"}` for
//! confirming K = 10 synthetic candidates against one probe with CMC (one thread).
use std::time::Instant;

use striae_ballistics_lib::cmc::{CmcParams, CmcReference};
use striae_ballistics_lib::preprocess::{PrepParams, prepare};
use striae_ballistics_lib::signature::{DIGEST_BYTES, DigestIndex, random_digest};
use striae_ballistics_lib::synthetic::{SyntheticParams, synthetic_scan};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut index = DigestIndex::with_capacity(n);
    // A pool of random digests cycled with varying ids keeps set-up fast; the scan reads
    // every row from memory either way.
    let pool: Vec<_> = (0..1024).map(random_digest).collect();
    for i in 0..n {
        index.push(i as u64, &pool[i % pool.len()]);
    }
    let probe = random_digest(u64::MAX);
    let _ = index.search(&probe, 10);
    let reps = 5;
    let t = Instant::now();
    let mut hits = 0;
    for _ in 0..reps {
        hits += index.search(&probe, 10).len();
    }
    let secs = t.elapsed().as_secs_f64() / reps as f64;
    let gbps = index.scanned_bytes() as f64 / secs / 1e9;
    println!(
        "{{\"digests\":{n},\"digest_bytes\":{DIGEST_BYTES},\"ms_per_probe\":{:.3},\"gb_per_s\":{:.2},\"hits\":{hits}}}",
        secs * 1e3,
        gbps
    );
    drop(index);

    let sp = SyntheticParams {
        size: 545,
        ..SyntheticParams::default()
    };
    let prep = PrepParams::default();
    let Ok(probe) = prepare(&synthetic_scan(1, 1, 1, &sp), &prep) else {
        return;
    };
    let cands: Vec<_> = (0..10u64)
        .filter_map(|g| prepare(&synthetic_scan(1, g, 2, &sp), &prep).ok())
        .collect();
    let params = CmcParams::default();
    let t = Instant::now();
    // Probe-side cells and FFTs are computed once, as at a confirming bureau.
    let reference = CmcReference::new(&probe, &params);
    let counts: Vec<usize> = cands
        .iter()
        .map(|c| reference.compare(c).cmc_count)
        .collect();
    println!(
        "{{\"candidates\":{},\"seconds\":{:.3},\"cmc_counts\":{:?}}}",
        cands.len(),
        t.elapsed().as_secs_f64(),
        counts
    );
}
