//! Example exhibits for the devnet: real scans from the Fadul set when it can be found
//! (`STRIAE_DATASET_DIR`, or `shared/datasets/fadul-known` beside or above the current folder
//! or the executable), synthetic scans otherwise. The two cases of each gun go to two
//! neighbouring members, so every gun is a cross-border match. When the bullet scans are
//! found too (`shared/datasets/bullets-dev`), the two bullets of each barrel go to two
//! neighbouring members in the same way. Seeding runs in the background: the devnet is
//! usable at once and the exhibits appear over the following seconds.

use std::path::{Path, PathBuf};

use striae_ballistics_lib::{
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::write_x3p,
};

use super::{
    bullets::add_bullet,
    exhibits::{AddRequest, add_exhibit},
};
use crate::ballistics::BallisticsNode;

/// Guns seeded (two cartridge cases each).
const GUNS: u64 = 6;
/// Where the shared data set usually sits relative to a folder.
const DATASET: &str = "shared/datasets/fadul-known";

/// Where the bullet scans usually sit.
const BULLETS: &str = "shared/datasets/bullets-dev";
/// The bullets seeded: (file prefix, caliber); bullets k and k+1 of one barrel go to
/// neighbouring members.
const SEEDED_BULLETS: [(&str, &str); 4] = [
    ("hamby44-barrel1-bullet1", "9mm Luger"),
    ("hamby44-barrel1-bullet2", "9mm Luger"),
    ("houston-barrelB-bullet11", ".380 ACP"),
    ("houston-barrelB-bullet50", ".380 ACP"),
];

/// The Fadul scans, if they can be found.
pub(super) fn find_dataset() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("STRIAE_DATASET_DIR") {
        return Some(PathBuf::from(dir)).filter(|d| d.is_dir());
    }
    find_near(DATASET, "fadul-1-1.x3p")
}

/// The bullet scans, if they can be found (beside the Fadul folder, or the usual places).
fn find_bullets() -> Option<PathBuf> {
    let marker = "hamby44-barrel1-bullet1-land1.x3p";
    find_dataset()
        .and_then(|d| d.parent().map(|p| p.join("bullets-dev")))
        .filter(|d| d.join(marker).is_file())
        .or_else(|| find_near(BULLETS, marker))
}

/// `relative` under the current folder, the executable's or one of their ancestors, holding
/// `marker`.
fn find_near(relative: &str, marker: &str) -> Option<PathBuf> {
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        bases.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        bases.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    bases
        .into_iter()
        .flat_map(|b| [b.join(relative), b.join("..").join(relative)])
        .find(|d| d.join(marker).is_file())
}

/// The bullets member `index` of `members` holds: (name, caliber, land files in order).
fn bullets_for(index: usize, members: usize) -> Vec<(String, String, Vec<Vec<u8>>)> {
    let Some(dir) = find_bullets() else {
        return Vec::new();
    };
    SEEDED_BULLETS
        .iter()
        .enumerate()
        .filter(|(k, _)| k % members.max(1) == index)
        .filter_map(|(_, (name, caliber))| {
            let lands: Option<Vec<Vec<u8>>> = (1..=6)
                .map(|l| std::fs::read(dir.join(format!("{name}-land{l}.x3p"))).ok())
                .collect();
            Some((name.to_string(), caliber.to_string(), lands?))
        })
        .collect()
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

fn report(node: &BallisticsNode, name: &str, added: Result<String, super::BallisticsError>) {
    match added {
        Ok(id) => tracing::info!(country = %node.country, exhibit = %id, scan = %name,
            "devnet: ballistic exhibit seeded"),
        Err(e) => tracing::warn!(country = %node.country, scan = %name,
            "devnet: ballistic exhibit not seeded: {e}"),
    }
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
            let added = add_exhibit(&node, request, bytes).await;
            report(&node, &name, added.map(|(record, _)| record.id));
        }
        let bullets = tokio::task::spawn_blocking(move || bullets_for(index, members))
            .await
            .unwrap_or_default();
        for (name, caliber, lands) in bullets {
            let request = AddRequest {
                kind: Some("bullet".into()),
                caliber: Some(caliber),
                case_ref: Some(format!("DEVNET-{}-{name}", node.country)),
                share: None,
            };
            let added = add_bullet(&node, request, lands).await;
            report(&node, &name, added.map(|(record, _)| record.id));
        }
    });
    Ok(())
}
