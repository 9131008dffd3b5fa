//! Tests of the bullet pipeline: synthetic lands with known striae, wire forms against
//! hostile bytes, and the real `bullets-dev` scans when present.

use super::synthetic::{LandParams, synthetic_land};
use super::*;
use crate::x3p::X3pScan;

/// A synthetic bullet whose land k is barrel land (k + rotate) mod n.
fn bullet(barrel: u64, shot: u64, lands: u64, rotate: u64, p: &LandParams) -> Bullet {
    let scans: Vec<_> = (0..lands)
        .map(|k| synthetic_land(barrel, (k + rotate) % lands, shot, p))
        .collect();
    prepare_bullet(&scans).expect("synthetic bullet")
}

#[test]
fn a_land_matches_itself() {
    let land = prepare_land(&synthetic_land(1, 0, 1, &LandParams::default())).expect("land");
    assert!(
        land.grooves.left_found && land.grooves.right_found,
        "{land:?}"
    );
    assert!(!land.striae_along_x);
    let pair = compare_lands(&land, &land);
    assert!(pair.ccf > 0.999 && pair.lag_um == 0.0, "{pair:?}");
    assert!(pair.matched && pair.cms >= LAND_MATCH_CMS, "{pair:?}");
}

#[test]
fn grooves_are_found_where_the_synthetic_shoulders_are() {
    let p = LandParams::default();
    let land = prepare_land(&synthetic_land(2, 1, 1, &p)).expect("land");
    // Land from 180 to 2020 µm, cut GROOVE_ADJUST_UM inside, give or take the look-back.
    let (l, r) = (
        f64::from(land.grooves.left_um),
        f64::from(land.grooves.right_um),
    );
    assert!((180.0..340.0).contains(&l), "left {l}");
    assert!((1860.0..2020.0).contains(&r), "right {r}");
}

#[test]
fn same_barrel_bullets_match_in_the_right_phase_and_others_do_not() {
    let p = LandParams::default();
    let a = bullet(7, 1, 6, 0, &p);
    let b = bullet(7, 2, 6, 2, &p);
    let c = bullet(8, 3, 6, 0, &p);
    let same = compare_bullets(&a, &b);
    // Probe land k is barrel land k; held land j is barrel land j + 2: k matches j = k - 2.
    assert_eq!(same.phase, 4, "{:?}", same.phase_scores);
    assert!(same.confirmed, "{same:?}");
    assert!(same.matched_lands.iter().all(|(k, j)| (k + 4) % 6 == *j));
    let diff = compare_bullets(&a, &c);
    assert!(!diff.confirmed, "{:?}", diff.matched_lands);
    assert!(
        same.score > diff.score + 0.2,
        "{} vs {}",
        same.score,
        diff.score
    );
    assert_eq!(same.pairs.len(), 36);
    let (da, db, dc) = (bullet_digest(&a), bullet_digest(&b), bullet_digest(&c));
    assert!(bullet_screen_score(&da, &db) > bullet_screen_score(&da, &dc) + 0.2);
    let json = serde_json::to_string(&same).expect("json");
    assert!(json.contains("\"matched_lands\""));
}

#[test]
fn transposed_and_differently_sampled_scans_still_match() {
    let p = LandParams::default();
    let base = prepare_land(&synthetic_land(3, 0, 1, &p)).expect("land");
    let transposed = LandParams {
        striae_along_x: true,
        ..p.clone()
    };
    let t = prepare_land(&synthetic_land(3, 0, 2, &transposed)).expect("land");
    assert!(t.striae_along_x);
    let coarse = LandParams {
        pitch_um: 1.935,
        ..p.clone()
    };
    let c = prepare_land(&synthetic_land(3, 0, 3, &coarse)).expect("land");
    let fine = LandParams {
        pitch_um: 0.645,
        width_um: 2000.0,
        length_um: 120.0,
        ..p
    };
    let f = prepare_land(&synthetic_land(3, 0, 4, &fine)).expect("land");
    for (what, other) in [("transposed", &t), ("1.935 µm", &c), ("0.645 µm", &f)] {
        let pair = compare_lands(&base, other);
        assert!(pair.ccf > 0.8 && pair.matched, "{what}: {pair:?}");
    }
}

#[test]
fn what_is_not_a_land_is_refused() {
    let ok = synthetic_land(1, 0, 1, &LandParams::default());
    let mut bad = ok.clone();
    bad.z.pop();
    assert!(matches!(
        prepare_land(&bad),
        Err(BulletError::Inconsistent { .. })
    ));
    let nan = X3pScan::new(600, 50, 1.5e-6, 1.5e-6, vec![f64::NAN; 30_000]);
    assert!(matches!(
        prepare_land(&nan),
        Err(BulletError::Missing { .. })
    ));
    let tiny = X3pScan::new(4, 4, 1.5e-6, 1.5e-6, vec![0.0; 16]);
    assert!(matches!(
        prepare_land(&tiny),
        Err(BulletError::TooSmall { .. })
    ));
    let narrow = X3pScan::new(100, 100, 1.5e-6, 1.5e-6, vec![0.0; 10_000]);
    assert!(matches!(
        prepare_land(&narrow),
        Err(BulletError::TooSmall { .. })
    ));
    let mut um = ok.clone();
    um.increment_x = 1.5625;
    assert!(matches!(
        prepare_land(&um),
        Err(BulletError::Resolution { .. })
    ));
    let mut huge = ok.clone();
    huge.z[5] = 1.0;
    assert!(matches!(prepare_land(&huge), Err(BulletError::Heights(_))));
    let flat = X3pScan::new(1400, 60, 1.5625e-6, 1.5625e-6, vec![0.0; 84_000]);
    let _ = prepare_land(&flat); // no panic, whatever the verdict
    assert!(matches!(
        prepare_bullet(&[ok.clone(), ok]),
        Err(BulletError::LandCount(2))
    ));
}

#[test]
fn wire_forms_round_trip_and_refuse_hostile_bytes() {
    let b = bullet(5, 1, 4, 0, &LandParams::default());
    let bytes = b.to_bytes();
    assert!(bytes.len() <= Bullet::MAX_BYTES);
    let back = Bullet::from_bytes(&bytes).expect("decoded");
    assert_eq!(back.lands.len(), 4);
    for (x, y) in b.lands.iter().zip(&back.lands) {
        assert_eq!(x.grooves, y.grooves);
        for (u, v) in x.signature.iter().zip(&y.signature) {
            assert!((u - v).abs() < 1e-3 || (u.is_nan() && v.is_nan()));
        }
    }
    assert_eq!(back.to_bytes(), bytes, "canonical");
    for cut in [0, 3, 5, 9, 40, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Bullet::from_bytes(&bytes[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Bullet::from_bytes(&longer).is_err());
    assert!(Bullet::from_bytes(&vec![0u8; Bullet::MAX_BYTES + 1]).is_err());
    // Every single-byte corruption of the headers is either refused or decodes to a land.
    let land = b.lands[0].to_bytes();
    for at in 0..40 {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut m = land.clone();
            m[at] = v;
            let _ = Land::from_bytes(&m);
        }
    }
    let mut rng = crate::synthetic::SplitMix(9);
    for len in [0usize, 1, 5, 40, 100, 4000, 20_000] {
        let mut junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        assert!(Land::from_bytes(&junk).is_err());
        assert!(Bullet::from_bytes(&junk).is_err());
        assert!(BulletDigest::from_bytes(&junk).is_err());
        if len >= 5 {
            junk[..5].copy_from_slice(b"SBB1\x04");
            assert!(Bullet::from_bytes(&junk).is_err());
        }
    }
    let d = bullet_digest(&b);
    let db = d.to_bytes();
    assert_eq!(db.len(), BULLET_DIGEST_BYTES);
    assert_eq!(BulletDigest::from_bytes(&db).expect("digest"), d);
    for at in [4usize, 5, 6, 7, BULLET_DIGEST_BYTES - 1] {
        let mut m = db.clone();
        m[at] = 0x80;
        assert!(BulletDigest::from_bytes(&m).is_err(), "byte {at}");
    }
    assert!(BulletDigest::from_bytes(&db[1..]).is_err());
    assert!((bullet_screen_score(&d, &d) - 1.0).abs() < 0.01);
}

/// The real scans: each study's same-barrel pair scores above every different-source pair
/// (cross-study pairs are different sources), matched lands sit in one phase, the two
/// directions agree on the phase, and no different-source pair is confirmed.
#[test]
fn bullets_dev_same_barrel_pairs_outscore_different_sources() {
    let Some(dir) = eval::find_bullet_dataset(env!("CARGO_MANIFEST_DIR")) else {
        eprintln!(
            "skipping: bullets-dev not found (set STRIAE_BULLET_DATASET_DIR or put it at \
             ../shared/datasets/bullets-dev; see /work/shared/datasets/README.md)"
        );
        return;
    };
    let bullets = eval::load_bullets(&dir).expect("dataset");
    assert_eq!(bullets.len(), 4);
    let n = bullets.len();
    let mut same = Vec::new();
    let mut diff = Vec::new();
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let c = compare_bullets(&bullets[i].bullet, &bullets[j].bullet);
            let lands = bullets[i].bullet.lands.len();
            for (k, m) in &c.matched_lands {
                assert_eq!((k + c.phase) % lands, *m, "matched lands off the phase");
            }
            if let Some(out) = std::env::var_os("STRIAE_BULLET_PNG_DIR") {
                let png = crate::render_bullet::aligned_signatures_png(
                    &bullets[i].bullet,
                    &bullets[j].bullet,
                    &c,
                )
                .expect("png");
                let name = format!("{}-vs-{}.png", bullets[i].name, bullets[j].name);
                std::fs::write(std::path::Path::new(&out).join(name), png).expect("written");
            }
            let back = compare_bullets(&bullets[j].bullet, &bullets[i].bullet);
            if bullets[i].source == bullets[j].source {
                assert_eq!((c.phase + back.phase) % lands, 0, "phases disagree");
                same.push((c.score, &bullets[i].name));
            } else {
                assert!(
                    !c.confirmed,
                    "{} ~ {} confirmed",
                    bullets[i].name, bullets[j].name
                );
                diff.push(c.score);
            }
        }
    }
    let worst_diff = diff.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
    for (s, name) in &same {
        assert!(
            *s > worst_diff,
            "{name}: same-source {s} <= different-source {worst_diff}"
        );
    }
    let report = eval::evaluate(&bullets);
    eprintln!("{}", serde_json::to_string(&report).expect("json"));
    assert_eq!(report.confirmed_different_source, 0);
    assert!(report.separated_screen && report.separated_full);
}
