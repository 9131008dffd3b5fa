//! The example network in `configs/` stays valid: every member config loads, and every
//! member's key is the one the roster lists for its country; a `[blobs]` section added to one
//! moves its scans to an object store, and a bad one is refused naming the field.

use std::path::PathBuf;

use striae_node::config::{self, NodeConfig};

#[test]
fn the_example_network_configs_load_and_match_the_roster() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/example");
    let mut members = 0;
    for entry in std::fs::read_dir(&dir).expect("configs/example exists") {
        let path = entry.expect("dir entry").path().join("node.toml");
        if !path.exists() {
            continue;
        }
        let config = NodeConfig::load(&path).expect("config loads");
        let signer = config::load_or_create_key(&config.data_dir).expect("key loads");
        let listed = config
            .roster
            .by_country(&config.country)
            .expect("country on the roster");
        assert_eq!(listed.bureau, signer.bureau(), "{}", path.display());
        members += 1;
    }
    assert_eq!(members, 3);
}

#[test]
fn a_blobs_section_moves_scans_to_an_object_store_and_bad_urls_name_the_field() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/example");
    let base = std::fs::read_to_string(example.join("fr/node.toml")).expect("example config");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(example.join("roster.toml"), dir.path().join("roster.toml")).expect("roster");
    let member = dir.path().join("fr");
    std::fs::create_dir(&member).expect("member dir");
    let load = |blobs: &str| {
        let path = member.join("node.toml");
        std::fs::write(&path, format!("{base}\n{blobs}")).expect("write config");
        NodeConfig::load(&path)
    };

    let config = load("").expect("no [blobs] loads");
    assert_eq!(
        config.blobs,
        config::BlobsConfig::Folder(config.data_dir.join("blobs"))
    );
    let config = load(
        "[blobs]\nurl = \"s3://bureau-scans/striae/fr\"\n\
         endpoint = \"https://minio.bureau.example:9000\"\nregion = \"eu-central-1\"\n",
    )
    .expect("an s3 [blobs] loads");
    let config::BlobsConfig::S3(s3) = config.blobs else {
        panic!("not s3: {:?}", config.blobs);
    };
    assert_eq!(s3.url(), "s3://bureau-scans/striae/fr");
    assert_eq!(s3.timeout, config::DEFAULT_BLOB_TIMEOUT);
    assert!(s3.credentials.is_none(), "keys never come from the file");

    for bad in [
        "url = \"s3://\"",
        "url = \"http://bucket/p\"",
        "secret = \"x\"",
    ] {
        let err = load(&format!("[blobs]\n{bad}\n")).expect_err(bad);
        let text = err.to_string();
        assert!(
            text.contains("blobs.url") || text.contains("unknown field"),
            "{bad}: {text}"
        );
    }
}
