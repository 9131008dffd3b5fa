//! `striae firearm ...` and `striae trace ...`: records, checks, imports and traces.

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::common::Target;

#[derive(Subcommand)]
pub enum FirearmAction {
    /// Add a firearm record
    Add,
}

#[derive(Subcommand)]
pub enum TraceAction {
    /// Show a trace and its answers
    Show { id: String },
}

pub async fn firearm(_action: FirearmAction, _t: &Target) -> Result<()> {
    bail!("not available yet")
}

pub async fn trace(_action: TraceAction, _t: &Target) -> Result<()> {
    bail!("not available yet")
}
