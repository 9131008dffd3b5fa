//! `striae backup`, `striae restore` and `striae export`: a node's data as one file while it
//! runs, that file back into a stopped node's data dir, and the node's own records as CSV or
//! NDJSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use striae_node::{
    backup,
    config::{BlobsConfig, NodeConfig},
};

use crate::common::{Target, client};

/// `striae backup`.
#[derive(Args)]
pub(crate) struct BackupArgs {
    /// The file to write (a zip; it holds the bureau's key: keep it safe)
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    target: Target,
}

/// `striae restore`.
#[derive(Args)]
pub(crate) struct RestoreArgs {
    /// The node's config: the data dir (and scans folder) to restore into
    #[arg(long)]
    config: PathBuf,
    /// The backup file, from `striae backup`
    #[arg(long)]
    from: PathBuf,
    /// Move an existing database aside instead of refusing
    #[arg(long)]
    force: bool,
}

/// `striae export`.
#[derive(Args)]
pub(crate) struct ExportArgs {
    /// csv or ndjson (the formats `firearm import` reads)
    #[arg(long, default_value = "csv")]
    format: String,
    /// The file to write
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    target: Target,
}

pub(crate) async fn backup(args: BackupArgs) -> Result<()> {
    refuse_existing(&args.out)?;
    let bytes = client(&args.target)?
        .download(reqwest::Method::POST, "/v1/backup", &args.out)
        .await?;
    println!(
        "backup written to {} ({}); restore it with `striae restore --config NODE.toml --from {}` \
         on a stopped node",
        args.out.display(),
        size(bytes),
        args.out.display()
    );
    Ok(())
}

pub(crate) fn restore(args: RestoreArgs) -> Result<()> {
    let config = NodeConfig::load(&args.config)?;
    let scans = match &config.blobs {
        BlobsConfig::Folder(dir) => Some(dir.as_path()),
        BlobsConfig::S3(_) => None,
    };
    let manifest = backup::restore_backup(&args.from, &config.data_dir, scans, args.force)
        .with_context(|| format!("cannot restore {}", args.from.display()))?;
    println!(
        "restored the backup of {} taken {}: {} stored pairs, {} scans, into {}; start the \
         node with `striae run --config {}`",
        manifest.country,
        manifest.created_at,
        manifest.pairs,
        manifest.blobs,
        config.data_dir.display(),
        args.config.display()
    );
    if manifest.country != config.country {
        eprintln!(
            "warning: the backup is of {}, the config is {}'s",
            manifest.country, config.country
        );
    }
    Ok(())
}

pub(crate) async fn export(args: ExportArgs) -> Result<()> {
    if !matches!(args.format.as_str(), "csv" | "ndjson") {
        anyhow::bail!("--format {}: give csv or ndjson", args.format);
    }
    refuse_existing(&args.out)?;
    let path = format!("/v1/firearms/export?format={}", args.format);
    let bytes = client(&args.target)?
        .download(reqwest::Method::GET, &path, &args.out)
        .await?;
    println!(
        "records exported to {} ({}); `striae firearm import {}` reads it back",
        args.out.display(),
        size(bytes),
        args.out.display()
    );
    Ok(())
}

fn refuse_existing(out: &Path) -> Result<()> {
    if out.exists() {
        anyhow::bail!(
            "{} exists already: choose another --out (nothing was overwritten)",
            out.display()
        );
    }
    Ok(())
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{bytes} bytes")
    }
}
