//! Ballistic scenarios: screening throughput, confirmation time at a holder, and accuracy on
//! a folder of real scans.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Scenario {
    /// One probe screened against D digests held
    Screen {
        #[arg(long, default_value_t = 100_000)]
        digests: u64,
    },
}

pub async fn run(scenario: Scenario) -> Result<()> {
    match scenario {
        Scenario::Screen { .. } => bail!("not available yet"),
    }
}
