//! Firearm scenarios: import throughput, check latency with many digests held, trace round
//! trips.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Scenario {
    /// Records per second through the import API into storage, digests published
    Import {
        #[arg(long, default_value_t = 100_000)]
        records: u64,
    },
}

pub async fn run(scenario: Scenario) -> Result<()> {
    match scenario {
        Scenario::Import { .. } => bail!("not available yet"),
    }
}
