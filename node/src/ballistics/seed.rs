//! Example exhibits for the devnet: real scans from the Fadul set when it can be found
//! (`STRIAE_DATASET_DIR`, or `shared/datasets/fadul-known` beside or above the current folder
//! or the executable), synthetic scans otherwise. The two cases of each gun go to two
//! neighbouring members, so every gun is a cross-border match. Seeding runs in the background:
//! the devnet is usable at once and the exhibits appear over the following seconds.

use std::path::{Path, PathBuf};

use striae_ballistics_lib::{
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::write_x3p,
};

use super::exhibits::{AddRequest, add_exhibit};
use crate::ballistics::BallisticsNode;

/// Guns seeded (two cartridge cases each).
const GUNS: u64 = 6;
/// Where the shared data set usually sits relative to a folder.
const DATASET: &str = "shared/datasets/fadul-known";

/// The Fadul scans, if they can be found.
pub(super) fn find_dataset() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("STRIAE_DATASET_DIR") {
        return Some(PathBuf::from(dir)).filter(|d| d.is_dir());
    }
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        bases.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        bases.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    bases
        .into_iter()
        .flat_map(|b| [b.join(DATASET), b.join("..").join(DATASET)])
        .find(|d| d.join("fadul-1-1.x3p").is_file())
}

/// The scan files member `index` of `members` holds: (name, bytes).
fn scans_for(index: usize, members: usize) -> Vec<(String, Vec<u8>)> {
    let members = members.max(1) as u64;
    let dataset = find_dataset();
    let mut out = Vec::new();
    for gun in 1..=GUNS {
        for shot in 1..=2u64 {
            // Shot 1 at member gun-1, shot 2 at the next member: every pair crosses a border.
            if (gun - 1 + shot - 1) % members != index as u64 {
                continue;
            }
            let name = format!("fadul-{gun}-{shot}");
            let bytes = match &dataset {
                Some(dir) => std::fs::read(dir.join(format!("{name}.x3p"))).ok(),
                None => None,
            };
            let (name, bytes) = match bytes {
                Some(b) => (name, b),
                None => {
                    // A Fadul-sized field (3.4 mm) on the working grid; all guns of one make.
                    let params = SyntheticParams {
                        size: 272,
                        pixel_um: 12.5,
                        ..SyntheticParams::default()
                    };
                    (
                        format!("synthetic-{gun}-{shot}"),
                        write_x3p(&synthetic_scan(3, gun, shot, &params)),
                    )
                }
            };
            out.push((name, bytes));
        }
    }
    out
}

/// Seeds devnet member `index` (of `members`) with example exhibits, in the background.
pub async fn seed_devnet(
    node: &BallisticsNode,
    index: usize,
    members: usize,
) -> Result<(), crate::node::NodeError> {
    if members < 2 {
        return Ok(());
    }
    let node = node.clone();
    tokio::spawn(async move {
        let scans = tokio::task::spawn_blocking(move || scans_for(index, members))
            .await
            .unwrap_or_default();
        for (name, bytes) in scans {
            // The case reference names the scan, so the walkthrough can tell guns apart.
            let request = AddRequest {
                kind: Some("cartridge_case".into()),
                caliber: Some("9mm Luger".into()),
                case_ref: Some(format!(
                    "DEVNET-{}-{}",
                    node.country,
                    name.replace(' ', "-")
                )),
                share: None,
            };
            match add_exhibit(&node, request, bytes).await {
                Ok((record, _)) => tracing::info!(
                    country = %node.country, exhibit = %record.id, scan = %name,
                    "devnet: ballistic exhibit seeded"
                ),
                Err(e) => tracing::warn!(country = %node.country, scan = %name,
                    "devnet: ballistic exhibit not seeded: {e}"),
            }
        }
    });
    Ok(())
}
