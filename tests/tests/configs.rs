//! The example network in `configs/` stays valid: every member config loads, and every
//! member's key is the one the roster lists for its country.

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
