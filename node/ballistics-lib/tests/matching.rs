//! Matching behaviour on synthetic scans: rotation invariance of the digest, and same-gun
//! scores above different-gun scores for screening and for CMC confirmation.

use striae_ballistics_lib::cmc::{CONFIRM_THRESHOLD, CmcParams, compare};
use striae_ballistics_lib::preprocess::{PrepParams, Surface, prepare};
use striae_ballistics_lib::signature::{Digest, DigestIndex, digest, screen_score};
use striae_ballistics_lib::synthetic::{SyntheticParams, synthetic_scan};
use striae_ballistics_lib::x3p::{read_x3p, write_x3p};

/// Fadul-sized field (3.4 mm) directly on the 12.5 µm working grid, to keep tests fast.
fn params() -> SyntheticParams {
    SyntheticParams {
        size: 272,
        pixel_um: 12.5,
        ..SyntheticParams::default()
    }
}

fn surface(make: u64, gun: u64, shot: u64) -> Surface {
    let scan = synthetic_scan(make, gun, shot, &params());
    // Through the writer and reader, as scans travel between bureaus.
    let scan = read_x3p(&write_x3p(&scan)).expect("synthetic scan round-trips");
    prepare(&scan, &PrepParams::default()).expect("synthetic scan prepares")
}

#[test]
fn synthetic_is_deterministic() {
    let p = params();
    let bits = |s: u64| {
        synthetic_scan(1, 2, s, &p)
            .z
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u64>>()
    };
    assert!(bits(3) == bits(3), "same seeds, same scan");
    assert!(bits(3) != bits(4), "another shot differs");
}

#[test]
fn digest_is_rotation_invariant() {
    let s = surface(7, 1, 1);
    let d = digest(&s);
    let others: Vec<Digest> = (2..5).map(|g| digest(&surface(7, g, 1))).collect();
    let max_other = others
        .iter()
        .map(|o| screen_score(&d, o))
        .fold(f32::MIN, f32::max);
    for deg in [90.0, 37.0, -123.0] {
        let r = digest(&s.rotated(deg));
        let self_score = screen_score(&d, &r);
        assert!(self_score > 0.6, "rotated by {deg}: {self_score}");
        assert!(
            self_score > max_other + 0.2,
            "rotated by {deg}: {self_score} vs other guns {max_other}"
        );
    }
}

#[test]
fn same_gun_beats_different_gun() {
    // Three guns of one make (shared class marks), two shots each, arbitrary rotations.
    let guns = [11u64, 12, 13];
    let shots: Vec<(u64, Surface)> = guns
        .iter()
        .flat_map(|&g| [1u64, 2].map(|s| (g, surface(3, g, s))))
        .collect();
    let digests: Vec<Digest> = shots.iter().map(|s| digest(&s.1)).collect();
    let mut index = DigestIndex::new();
    for (i, d) in digests.iter().enumerate() {
        index.push(i as u64, d);
    }
    let p = CmcParams::default();
    for (i, (gun, s)) in shots.iter().enumerate() {
        let hits = index.search(&digests[i], 2);
        assert_eq!(hits[0].0, i as u64, "a digest is its own best match");
        let mate = hits[1].0 as usize;
        assert_eq!(
            shots[mate].0, *gun,
            "screening: probe {i} best other is gun {}",
            shots[mate].0
        );
        // Each unordered pair once (CMC is slow in unoptimised test builds).
        for (j, (g2, t)) in shots.iter().enumerate().skip(i + 1) {
            let r = compare(s, t, &p);
            if g2 == gun {
                assert!(r.cmc_count >= CONFIRM_THRESHOLD, "same gun {i}-{j}: {r:?}");
            } else {
                assert!(
                    r.cmc_count < CONFIRM_THRESHOLD,
                    "different guns {i}-{j}: {r:?}"
                );
            }
        }
    }
}

#[test]
fn reprocessing_a_processed_surface_is_harmless() {
    let s = surface(5, 1, 1);
    let again = prepare(&s.to_scan(), &PrepParams::default()).expect("re-prepares");
    let kept = again.valid_points() as f64 / s.valid_points() as f64;
    assert!(kept > 0.85, "kept {kept}");
    let score = screen_score(&digest(&s), &digest(&again));
    assert!(
        score > 0.8,
        "digest self-similarity after re-processing {score}"
    );
    let r = compare(&s, &again, &CmcParams::default());
    assert!(
        r.cmc_count >= CONFIRM_THRESHOLD && r.theta_deg.abs() <= 3.0,
        "{r:?}"
    );
}

/// Shared (serialised) digests of `shots`, in a screening index.
fn gallery(shots: &[(u64, Surface)]) -> DigestIndex {
    let mut index = DigestIndex::new();
    for (i, (_, s)) in shots.iter().enumerate() {
        let shared = Digest::from_bytes(&digest(s).to_bytes()).expect("round-trips");
        assert_eq!(shared.probe_views(), 1, "views are never serialised");
        index.push(i as u64, &shared);
    }
    index
}

#[test]
fn rotated_and_shifted_copy_screens_as_its_own_mate() {
    use striae_ballistics_lib::perturb::{Perturbation, perturb_scan, perturb_surface};
    let shots: Vec<(u64, Surface)> = (1..=4).map(|g| (g, surface(9, g, 1))).collect();
    let index = gallery(&shots);
    // The same case turned by 37° and re-prepared (centre re-fitted), then the centre
    // moved a further 120 µm, as another lab's outline fit might.
    let steps = [
        Perturbation::Rotation(37.0),
        Perturbation::CentreError(120.0),
    ];
    let copy = prepare(
        &perturb_scan(&shots[0].1.to_scan(), &steps, 3),
        &PrepParams::default(),
    )
    .expect("prepares");
    let copy = perturb_surface(&copy, &steps, 3);
    let probe = digest(&copy);
    assert_eq!(probe.probe_views(), 37);
    let hits = index.search(&probe, 4);
    assert_eq!(hits[0].0, 0, "{hits:?}");
    assert!(hits[0].1 > hits[1].1 + 0.1, "{hits:?}");
}

#[test]
fn centring_error_of_150_um_keeps_the_mate_first() {
    use striae_ballistics_lib::perturb::{Perturbation, perturb_surface};
    // Five guns of one make, two shots each; every second shot probes with its centre
    // 150 µm off, against the first shots of all guns.
    let first: Vec<(u64, Surface)> = (1..=5).map(|g| (g, surface(4, g, 1))).collect();
    let index = gallery(&first);
    for (i, g) in (1..=5u64).enumerate() {
        let s = perturb_surface(&surface(4, g, 2), &[Perturbation::CentreError(150.0)], g);
        let hits = index.search(&digest(&s), 5);
        assert_eq!(hits[0].0, i as u64, "gun {g}: {hits:?}");
        // The score of a pair equals screen_score with the probe first.
        let direct = screen_score(&digest(&s), &digest(&first[i].1).shared());
        assert!((direct - hits[0].1).abs() < 1e-5);
    }
}
