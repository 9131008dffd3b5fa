//! `striae ballistic ...` and `striae x3p inspect`: exhibits, searches, leads, scan files.

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::common::Target;

#[derive(Subcommand)]
pub enum BallisticAction {
    /// Automatic leads
    Leads,
}

#[derive(Subcommand)]
pub enum X3pAction {
    /// Report what an X3P file holds
    Inspect { file: std::path::PathBuf },
}

pub async fn ballistic(_action: BallisticAction, _t: &Target) -> Result<()> {
    bail!("not available yet")
}

pub async fn x3p(_action: X3pAction, _t: &Target) -> Result<()> {
    bail!("not available yet")
}
