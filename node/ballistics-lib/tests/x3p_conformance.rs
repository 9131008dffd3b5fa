//! Reader conformance on files written by other software, the layout variants met in
//! practice, and rejection (never a panic) of damaged or hostile input.

use std::io::{Cursor, Read};
use std::path::PathBuf;

use striae_ballistics_lib::synthetic::SplitMix;
use striae_ballistics_lib::x3p::{
    DataType, ReadLimits, WriteOptions, X3pError, X3pScan, read_x3p, read_x3p_with_limits,
    write_x3p, write_x3p_with, zip_files,
};

fn fixture(name: &str) -> Option<Vec<u8>> {
    let base = std::env::var("STRIAE_FIXTURES_DIR")
        .map(PathBuf::from)
        .ok()
        .or_else(|| {
            let m = env!("CARGO_MANIFEST_DIR");
            [
                "../../../shared/fixtures/x3p",
                "../../shared/fixtures/x3p",
                "../shared/fixtures/x3p",
            ]
            .iter()
            .map(|r| PathBuf::from(m).join(r))
            .find(|p| p.is_dir())
        });
    match base {
        Some(b) => std::fs::read(b.join(name)).ok(),
        None => {
            eprintln!(
                "skipping: X3P fixtures not found (set STRIAE_FIXTURES_DIR to the shared fixtures/x3p folder)"
            );
            None
        }
    }
}

/// All entries of a zip as (name, bytes).
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).expect("entry");
            let mut v = Vec::new();
            f.read_to_end(&mut v).expect("read");
            (f.name().to_string(), v)
        })
        .collect()
}

fn replace_xml(files: &mut [(String, Vec<u8>)], from: &str, to: &str) {
    for (name, content) in files.iter_mut() {
        if name.ends_with("main.xml") {
            let s = String::from_utf8_lossy(content).replace(from, to);
            *content = s.into_bytes();
        }
    }
}

fn sample_scan() -> X3pScan {
    let z = (0..30 * 20)
        .map(|i| {
            if i % 17 == 0 {
                f64::NAN
            } else {
                (i as f64).sin() * 1e-6
            }
        })
        .collect();
    X3pScan::new(30, 20, 6.25e-6, 6.25e-6, z)
}

#[test]
fn fixtures_parse_with_right_sizes_and_types() {
    let (Some(pyr), Some(testing)) = (fixture("pyramid.x3p"), fixture("testing.x3p")) else {
        return;
    };
    let p = read_x3p(&pyr).expect("pyramid parses");
    let info = p.inspect();
    assert_eq!((info.size_x, info.size_y, info.data_type), (5, 5, "F"));
    assert_eq!(info.valid_points, 25);
    assert_eq!(info.creator.as_deref(), Some("Creator Name"));
    assert_eq!(info.date.as_deref(), Some("2013-12-26T16:06:00"));
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    let t = read_x3p(&testing).expect("testing parses");
    let info = t.inspect();
    assert_eq!((info.size_x, info.size_y, info.data_type), (30, 20, "D"));
    assert!((info.increment_x - 0.0274999996026357).abs() < 1e-15);
    assert!(info.instrument.is_some());
}

#[test]
fn unprefixed_root_top_folder_and_macos_junk_accepted() {
    let s = sample_scan();
    let o = WriteOptions {
        prefixed_root: false,
        folder: "case-17/".into(),
        ..WriteOptions::default()
    };
    let mut files = entries(&write_x3p_with(&s, &o));
    replace_xml(&mut files, "<ISO5436_2>", "<ISO5436>");
    replace_xml(&mut files, "</ISO5436_2>", "</ISO5436>");
    files.push(("__MACOSX/case-17/._main.xml".into(), b"junk".to_vec()));
    files.push(("case-17/.DS_Store".into(), vec![0; 10]));
    let r = read_x3p(&zip_files(&files)).expect("accepted");
    assert_eq!((r.size_x, r.size_y), (30, 20));
    assert_eq!(
        r.z.iter().filter(|v| v.is_nan()).count(),
        s.z.iter().filter(|v| v.is_nan()).count()
    );
}

#[test]
fn integer_types_scale_and_mask_applies() {
    let s = sample_scan();
    for dt in [DataType::I, DataType::L] {
        let o = WriteOptions {
            data_type: dt,
            z_increment: 1e-9,
            z_offset: 2e-7,
            valid_mask: true,
            ..WriteOptions::default()
        };
        let r = read_x3p(&write_x3p_with(&s, &o)).expect("parses");
        assert_eq!(r.data_type, dt);
        for (a, b) in r.z.iter().zip(&s.z) {
            assert!(
                (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-9,
                "{a} vs {b}"
            );
        }
    }
}

#[test]
fn wrong_point_md5_rejected() {
    let mut files = entries(&write_x3p(&sample_scan()));
    for (name, c) in files.iter_mut() {
        if name.ends_with("data.bin") {
            c[3] ^= 0x40;
        }
    }
    let e = read_x3p(&zip_files(&files)).unwrap_err();
    assert!(matches!(e, X3pError::ChecksumMismatch { .. }), "{e}");
    assert!(e.to_string().contains("MD5ChecksumPointData"));
}

#[test]
fn stale_main_checksum_is_only_a_warning() {
    let mut files = entries(&write_x3p(&sample_scan()));
    replace_xml(
        &mut files,
        "<Comment>N/A</Comment>",
        "<Comment>edited later</Comment>",
    );
    let r = read_x3p(&zip_files(&files)).expect("still accepted");
    assert!(r.warnings.iter().any(|w| w.contains("md5checksum.hex")));
}

#[test]
fn truncated_and_mis_sized_data_rejected() {
    let files = entries(&write_x3p(&sample_scan()));
    for delta in [-8i64, 8] {
        let mut f = files.clone();
        for (name, c) in f.iter_mut() {
            if name.ends_with("data.bin") {
                if delta < 0 {
                    c.truncate(c.len() - 8);
                } else {
                    c.extend_from_slice(&[0; 8]);
                }
            }
        }
        let e = read_x3p(&zip_files(&f)).unwrap_err();
        assert!(matches!(e, X3pError::SizeMismatch { .. }), "{e}");
    }
    let mut f = files.clone();
    replace_xml(&mut f, "<SizeX>30</SizeX>", "<SizeX>31</SizeX>");
    assert!(matches!(
        read_x3p(&zip_files(&f)),
        Err(X3pError::SizeMismatch { .. })
    ));
}

#[test]
fn zip_bomb_capped() {
    // 4 MiB of zeros deflates to a few KiB; a 1 MiB total cap must stop it before or
    // while inflating.
    let mut files = entries(&write_x3p(&sample_scan()));
    files.retain(|(n, _)| n != "bindata/data.bin");
    files.push(("bindata/data.bin".into(), vec![0u8; 4 << 20]));
    let limits = ReadLimits {
        max_total_uncompressed: 1 << 20,
        ..ReadLimits::default()
    };
    let e = read_x3p_with_limits(&zip_files(&files), &limits).unwrap_err();
    assert!(
        matches!(e, X3pError::TooLarge { .. } | X3pError::SizeMismatch { .. }),
        "{e}"
    );
    // Declared dimensions that match the bomb: the total cap itself must stop it.
    replace_xml(&mut files, "<SizeX>30</SizeX>", "<SizeX>1024</SizeX>");
    replace_xml(&mut files, "<SizeY>20</SizeY>", "<SizeY>512</SizeY>");
    let e = read_x3p_with_limits(&zip_files(&files), &limits).unwrap_err();
    assert!(matches!(e, X3pError::TooLarge { .. }), "{e}");
}

#[test]
fn absurd_dimensions_rejected() {
    let mut f = entries(&write_x3p(&sample_scan()));
    replace_xml(&mut f, "<SizeX>30</SizeX>", "<SizeX>2000000</SizeX>");
    let e = read_x3p(&zip_files(&f)).unwrap_err();
    assert!(matches!(e, X3pError::Dimensions { .. }), "{e}");
    let mut f = entries(&write_x3p(&sample_scan()));
    replace_xml(&mut f, "<SizeX>30</SizeX>", "<SizeX>15000</SizeX>");
    replace_xml(&mut f, "<SizeY>20</SizeY>", "<SizeY>15000</SizeY>");
    assert!(matches!(
        read_x3p(&zip_files(&f)),
        Err(X3pError::Dimensions { .. })
    ));
}

#[test]
fn structural_errors_are_typed() {
    let files = entries(&write_x3p(&sample_scan()));
    let no_main: Vec<_> = files
        .iter()
        .filter(|(n, _)| !n.ends_with("main.xml"))
        .cloned()
        .collect();
    assert_eq!(
        read_x3p(&zip_files(&no_main)).unwrap_err(),
        X3pError::MissingMainXml
    );
    let other = zip_files(&[("readme.txt".into(), b"hello".to_vec())]);
    assert_eq!(read_x3p(&other).unwrap_err(), X3pError::MissingMainXml);
    assert!(matches!(
        read_x3p(b"PK not really a zip"),
        Err(X3pError::NotZip(_))
    ));
    let mut f = files.clone();
    replace_xml(
        &mut f,
        "<FeatureType>SUR</FeatureType>",
        "<FeatureType>PRF</FeatureType>",
    );
    let e = read_x3p(&zip_files(&f)).unwrap_err();
    assert_eq!(e, X3pError::UnsupportedFeature("PRF".into()));
    let no_data: Vec<_> = files
        .iter()
        .filter(|(n, _)| !n.ends_with("data.bin"))
        .cloned()
        .collect();
    assert!(matches!(
        read_x3p(&zip_files(&no_data)),
        Err(X3pError::MissingFile(_))
    ));
    let mut f = files.clone();
    replace_xml(
        &mut f,
        "<DataType>D</DataType><Increment>1e0",
        "<DataType>Q</DataType><Increment>1e0",
    );
    assert!(matches!(
        read_x3p(&zip_files(&f)),
        Err(X3pError::Unsupported { .. })
    ));
}

/// Truncations and random bytes must give errors, never a panic. Bit flips must give an
/// error or, when they hit bytes that carry no point data (zip timestamps, metadata text),
/// a scan whose heights are bit-identical to the original: the CRC and point-data MD5 let
/// no altered height through, and an altered main.xml is flagged by a warning.
#[test]
fn damaged_inputs_never_panic() {
    let mut inputs: Vec<Vec<u8>> = vec![write_x3p(&sample_scan())];
    inputs.extend(fixture("pyramid.x3p"));
    inputs.extend(fixture("testing.x3p"));
    let mut rng = SplitMix(42);
    let mut cases = 0;
    for base in &inputs {
        let original = read_x3p(base).expect("base parses");
        let bits = |s: &X3pScan| s.z.iter().map(|v| v.to_bits()).collect::<Vec<u64>>();
        for cut in (0..base.len()).step_by((base.len() / 97).max(1)) {
            assert!(
                read_x3p(&base[..cut]).is_err(),
                "truncated to {cut} bytes accepted"
            );
            cases += 1;
        }
        for _ in 0..300 {
            let mut b = base.clone();
            for _ in 0..1 + rng.next_u64() % 8 {
                let i = (rng.next_u64() % b.len() as u64) as usize;
                b[i] ^= 1 << (rng.next_u64() % 8);
            }
            if let Ok(s) = read_x3p(&b) {
                assert_eq!((s.size_x, s.size_y), (original.size_x, original.size_y));
                assert!(bits(&s) == bits(&original), "altered heights accepted");
                if (s.increment_x, s.increment_y) != (original.increment_x, original.increment_y) {
                    assert!(!s.warnings.is_empty(), "altered header without warning");
                }
            }
            cases += 1;
        }
    }
    for len in [0usize, 1, 4, 22, 100, 1000, 65536] {
        let b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        assert!(read_x3p(&b).is_err());
        let mut pk = b.clone();
        if pk.len() >= 4 {
            pk[..4].copy_from_slice(b"PK\x03\x04");
        }
        assert!(read_x3p(&pk).is_err());
        cases += 2;
    }
    assert!(cases > 500);
}
