//! Tests of the bullet pipeline: synthetic lands with known striae, wire forms against
//! hostile bytes, and the real `bullets-dev` scans when present.

use super::synthetic::{LandParams, synthetic_land};
use super::*;

fn bullet(barrel: u64, shot: u64, lands: u64, rotate: u64, p: &LandParams) -> Bullet {
    let scans: Vec<_> = (0..lands)
        .map(|k| synthetic_land(barrel, (k + rotate) % lands, shot, p))
        .collect();
    prepare_bullet(&scans).expect("synthetic bullet")
}

#[test]
fn data_report() {
    let Some(dir) = eval::find_bullet_dataset(env!("CARGO_MANIFEST_DIR")) else {
        eprintln!("skipping: bullets-dev not found (see /work/shared/datasets/README.md)");
        return;
    };
    let bullets = eval::load_bullets(&dir).expect("dataset");
    for b in &bullets {
        for (k, l) in b.bullet.lands.iter().enumerate() {
            eprintln!(
                "{} land {}: {} samples, grooves {:.0}..{:.0} ({} {}), crosscut {:.0} stab {:.2} along_x {}",
                b.name,
                k + 1,
                l.signature.len(),
                l.grooves.left_um,
                l.grooves.right_um,
                l.grooves.left_found,
                l.grooves.right_found,
                l.crosscut_um,
                l.crosscut_stability,
                l.striae_along_x
            );
        }
    }
    let report = eval::evaluate(&bullets);
    eprintln!("{}", serde_json::to_string_pretty(&report).expect("json"));
}

#[test]
fn data_debug() {
    let Some(dir) = eval::find_bullet_dataset(env!("CARGO_MANIFEST_DIR")) else {
        return;
    };
    for name in [
        "hamby44-barrel1-bullet1-land6",
        "hamby44-barrel1-bullet1-land1",
        "houston-barrelB-bullet50-land1",
        "houston-barrelB-bullet50-land6",
        "houston-barrelB-bullet11-land1",
    ] {
        let bytes = std::fs::read(dir.join(format!("{name}.x3p"))).expect("file");
        let scan = crate::x3p::read_x3p(&bytes).expect("scan");
        eprintln!("{name}");
        land::debug_land(&scan);
    }
}
