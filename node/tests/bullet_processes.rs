//! A bullet across borders, as bureaus run it: two members as separate `striae run`
//! processes, bullets added and searched with the `striae` command line. Member 0 adds a
//! bullet fired from Hamby barrel 1; member 1 holds the other bullet of that barrel (sent as
//! a zip) and a bullet from another barrel of unknown caliber. Member 0's search finds the
//! same-barrel bullet first, and member 1 confirms it naming the phase and the matched lands;
//! the other barrel is not confirmed; the bullet's picture and the comparison's (the matched
//! lands aligned, shown by the holder only for a confirmed match) can be saved.
//!
//! Needs the real land scans (`../shared/datasets/bullets-dev`); skipped with a message when
//! they are absent.

mod common;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use common::{STRIAE, eventually, start, striae};

fn dataset() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../shared/datasets/bullets-dev");
    dir.join("hamby44-barrel1-bullet1-land1.x3p")
        .is_file()
        .then_some(dir)
}

fn lands(dir: &Path, study: &str, barrel: &str, bullet: u32) -> Vec<PathBuf> {
    (1..=6)
        .map(|l| dir.join(format!("{study}-barrel{barrel}-bullet{bullet}-land{l}.x3p")))
        .collect()
}

fn paths(files: &[PathBuf]) -> Vec<&str> {
    files.iter().filter_map(|p| p.to_str()).collect()
}

fn zip_of(files: &[PathBuf], out: &Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(out).expect("create zip"));
    for (i, file) in files.iter().enumerate() {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file(format!("bullet/land{}.x3p", i + 1), options)
            .expect("zip entry");
        zip.write_all(&std::fs::read(file).expect("read land"))
            .expect("zip write");
    }
    zip.finish().expect("zip finish");
}

#[test]
fn a_bullet_added_at_one_member_finds_its_same_barrel_mate_confirmed_by_the_holder_with_the_phase()
{
    let Some(data) = dataset() else {
        println!("bullets-dev scans not found (../shared/datasets/bullets-dev): skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_processes, members) = start(dir.path(), 2);

    let probe_lands = lands(&data, "hamby44", "1", 1);
    let mut add = vec![
        "ballistic",
        "add",
        "--kind",
        "bullet",
        "--caliber",
        "9mm Luger",
    ];
    add.extend(["--case-ref", "AT-2026-1"]);
    add.extend(paths(&probe_lands));
    let probe = striae(&members[0], &add).expect("add the probe bullet");
    assert_eq!(probe["kind"], "bullet", "{probe}");
    assert_eq!(probe["lands"], 6, "{probe}");
    let probe_id = probe["id"].as_str().expect("id").to_string();

    let zip = dir.path().join("mate.zip");
    zip_of(&lands(&data, "hamby44", "1", 2), &zip);
    let mate = striae(
        &members[1],
        &[
            "ballistic",
            "add",
            "--kind",
            "bullet",
            "--caliber",
            "9x19",
            "--case-ref",
            "DE-1",
            zip.to_str().expect("path"),
        ],
    )
    .expect("add the mate as a zip");
    let other_lands = lands(&data, "houston", "B", 11);
    let mut add_other = vec!["ballistic", "add", "--kind", "bullet", "--caliber", "9mm"];
    add_other.extend(["--case-ref", "DE-2"]);
    add_other.extend(paths(&other_lands));
    let other = striae(&members[1], &add_other).expect("add another barrel's bullet");
    assert_eq!(other["caliber_class"], "unknown", "{other}");

    eventually("member 0 holds the three bullets", || {
        striae(
            &members[0],
            &[
                "ballistic",
                "search",
                "--exhibit",
                &probe_id,
                "--confirm",
                "0",
            ],
        )
        .is_ok_and(|v| v["digests_held"].as_u64() >= Some(3))
    });
    let found = striae(
        &members[0],
        &[
            "ballistic",
            "search",
            "--exhibit",
            &probe_id,
            "--confirm",
            "5",
        ],
    )
    .expect("search");
    let candidates = found["candidates"].as_array().expect("candidates");
    assert_eq!(
        candidates.len(),
        2,
        "the probe is not its own candidate: {found}"
    );
    let first = &candidates[0];
    assert_eq!(first["exhibit_ref"], mate["id"], "{found}");
    assert_eq!(first["confirmation"], "confirmed", "{found}");
    assert_eq!(first["signature_valid"], true, "{found}");
    assert!(first["phase"].as_u64().is_some(), "{first}");
    let matched = first["matched_lands"].as_array().expect("matched lands");
    assert!(matched.len() >= 2, "{first}");
    let phase = first["phase"].as_u64().expect("phase");
    for pair in matched {
        let (a, b) = (
            pair[0].as_u64().expect("land"),
            pair[1].as_u64().expect("land"),
        );
        assert_eq!(
            (a - 1 + phase) % 6,
            b - 1,
            "matched lands keep one phase: {first}"
        );
    }
    assert_eq!(
        first["land_pairs"].as_array().map(Vec::len),
        Some(36),
        "{first}"
    );
    let second = &candidates[1];
    assert_eq!(second["exhibit_ref"], other["id"], "{found}");
    assert_ne!(second["confirmation"], "confirmed", "{found}");

    // The examiner's picture of the bullet: its land signatures.
    let picture = dir.path().join("probe.png");
    let saved = Command::new(STRIAE)
        .args(["ballistic", "image", &probe_id, "--out"])
        .arg(&picture)
        .args(["--api", &members[0].api, "--token", &members[0].token])
        .output()
        .expect("striae ballistic image");
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let png = std::fs::read(&picture).expect("picture");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // The comparison as the examiner sees it: the holder, asked again, confirms and shows its
    // matched lands; a bullet it does not confirm shows nothing.
    let compared = dir.path().join("comparison.png");
    let mate_id = mate["id"].as_str().expect("id");
    let other_id = other["id"].as_str().expect("id");
    let image = |other: &str, out: &Path| {
        Command::new(STRIAE)
            .args(["ballistic", "comparison-image", &probe_id, other, "--out"])
            .arg(out)
            .args(["--api", &members[0].api, "--token", &members[0].token])
            .output()
            .expect("striae ballistic comparison-image")
    };
    let drawn = image(mate_id, &compared);
    assert!(
        drawn.status.success(),
        "{}",
        String::from_utf8_lossy(&drawn.stderr)
    );
    assert_eq!(&std::fs::read(&compared).expect("png")[..4], b"\x89PNG");
    let refused = image(other_id, &dir.path().join("none.png"));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("did not confirm"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The same search with the lands uploaded (multipart, one part per land).
    let mut upload = vec![
        "ballistic",
        "search",
        "--kind",
        "bullet",
        "--caliber",
        "9x19",
    ];
    upload.extend(paths(&probe_lands));
    let by_upload = striae(&members[0], &upload).expect("search by upload");
    assert_eq!(
        by_upload["candidates"][0]["exhibit_ref"], mate["id"],
        "{by_upload}"
    );
    assert_eq!(by_upload["candidates"][0]["confirmation"], "confirmed");
}
