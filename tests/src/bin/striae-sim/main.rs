//! `striae-sim`: runs the seeded sync simulator and prints one JSON line with what came of it.
//!
//! `cargo run --release -p striae-tests --bin striae-sim -- --members 1000 --seed 1 --rounds 200`

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
    let report = Sim::new(SimConfig {
        members: args.members,
        seed: args.seed,
        rounds: args.rounds,
        offline: args.offline,
        byzantine: args.byzantine,
        entries_per_member: args.entries,
        degree: args.degree,
        ..SimConfig::default()
    })
    .run();
    let mut line = serde_json::to_value(&report)?;
    line["seconds"] = serde_json::json!((started.elapsed().as_secs_f64() * 100.0).round() / 100.0);
    println!("{line}");
    Ok(())
}
