//! `striae-sim`: runs the seeded sync simulator and prints one JSON line with what came of it.
//!
//! `cargo run --release -p striae-tests --bin striae-sim -- --members 1000 --seed 1 --rounds 200`
//!
//! With `--seeds N` it runs seeds `seed..seed+N` (on every core) and prints one JSON line per
//! run, then a summary line: runs, failed (seeds that did not converge or broke an
//! invariant), violations, the slowest convergence and the most held memory.

use anyhow::{Result, bail};
use clap::Parser;
use striae_tests::sim::{Sim, SimConfig};

/// Simulates members syncing feeds, some offline for a while, some misbehaving.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Members in all.
    #[arg(long, default_value_t = 100)]
    members: usize,
    /// The seed every random choice derives from (the same seed gives the same run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Rounds to run (100 ms of simulated time each).
    #[arg(long, default_value_t = 200)]
    rounds: u64,
    /// Honest members offline from a tenth to half of the run.
    #[arg(long, default_value_t = 0)]
    offline: usize,
    /// Members that misbehave: inflated heads, withheld pages, replays, equivocation, garbage.
    #[arg(long, default_value_t = 0)]
    byzantine: usize,
    /// Entries each honest member publishes in the first half of the run.
    #[arg(long, default_value_t = 1)]
    entries: usize,
    /// Neighbours each member connects to.
    #[arg(long, default_value_t = 8)]
    degree: usize,
    /// Runs this many seeds from `--seed` on and prints a summary line last.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.members < 2 {
        bail!("--members must be at least 2");
    }
    if args.offline + args.byzantine >= args.members {
        bail!("--offline plus --byzantine must leave at least one member honest and online");
    }
    let started = std::time::Instant::now();
    let run = |seed: u64| {
        let started = std::time::Instant::now();
        let report = Sim::new(SimConfig {
            members: args.members,
            seed,
            rounds: args.rounds,
            offline: args.offline,
            byzantine: args.byzantine,
            entries_per_member: args.entries,
            degree: args.degree,
            ..SimConfig::default()
        })
        .run();
        (report, started.elapsed().as_secs_f64())
    };
    if args.seeds <= 1 {
        let (report, seconds) = run(args.seed);
        let mut line = serde_json::to_value(&report)?;
        line["seconds"] = serde_json::json!((seconds * 100.0).round() / 100.0);
        println!("{line}");
        return Ok(());
    }
    use rayon::prelude::*;
    let reports: Vec<_> = (args.seed..args.seed + args.seeds)
        .into_par_iter()
        .map(|seed| {
            let (report, seconds) = run(seed);
            let mut line = serde_json::to_value(&report).unwrap_or_default();
            line["seconds"] = serde_json::json!((seconds * 100.0).round() / 100.0);
            println!("{line}");
            report
        })
        .collect();
    let failed: Vec<u64> = reports
        .iter()
        .filter(|r| !r.delivered_all || !r.converged || r.violations > 0)
        .map(|r| r.seed)
        .collect();
    let summary = serde_json::json!({
        "members": args.members,
        "byzantine": args.byzantine,
        "offline": args.offline,
        "runs": reports.len(),
        "failed": failed,
        "violations": reports.iter().map(|r| r.violations).sum::<u64>(),
        "max_rounds_to_converge": reports.iter().map(|r| r.max_rounds_to_converge).max(),
        "max_held_bytes": reports.iter().map(|r| r.max_held_bytes).max(),
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    println!("{summary}");
    if !failed.is_empty() {
        bail!("{} of {} seeds failed", failed.len(), reports.len());
    }
    Ok(())
}
