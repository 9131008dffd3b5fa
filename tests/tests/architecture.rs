//! The architecture's rules, checked on the source tree (as rust-analyzer's tidy tests do):
//! the core names no capability, nothing outside `store/` names the storage backend, every
//! module says what it is for on its first line, and no production file grows past 800 lines.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("source folder") {
            let path = entry.expect("source entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn source_dirs() -> Vec<PathBuf> {
    let root = workspace();
    [
        "protocol/src",
        "node/src",
        "node/firearms-lib/src",
        "node/ballistics-lib/src",
        "tests/src",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect()
}

/// The production part of a file: everything before its `#[cfg(test)]` module.
fn production(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

#[test]
fn the_core_names_no_capability() {
    let core = workspace().join("node/src/core");
    let capabilities = [
        "crate::api",
        "crate::audit",
        "crate::ballistics",
        "crate::context",
        "crate::devnet",
        "crate::firearms",
        "crate::node",
        "crate::notices",
        "crate::operations",
    ];
    for file in rust_files(&core) {
        let text = std::fs::read_to_string(&file).expect("read source");
        for name in capabilities {
            assert!(
                !text.contains(name),
                "{} names {name}: the core must know capabilities only through core::Capability",
                file.display()
            );
        }
    }
}

#[test]
fn no_capability_names_the_investigation_layer_above_it() {
    for part in ["core", "net", "store", "firearms", "ballistics", "audit"] {
        for file in rust_files(&workspace().join("node/src").join(part)) {
            let text = std::fs::read_to_string(&file).expect("read source");
            assert!(
                !text.contains("crate::cases"),
                "{} names crate::cases: cases drive the capabilities, never the other way",
                file.display()
            );
        }
    }
}

#[test]
fn only_the_store_names_the_storage_backend() {
    let store = workspace().join("node/src/store");
    for file in rust_files(&workspace().join("node/src")) {
        if file.starts_with(&store) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        assert!(
            !text.contains("sled::"),
            "{} names sled: storage goes through store::Keyspace",
            file.display()
        );
    }
}

#[test]
fn every_module_opens_with_what_it_is_for() {
    for dir in source_dirs() {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).expect("read source");
            assert!(
                text.trim_start().starts_with("//!"),
                "{} has no //! line saying what it holds",
                file.display()
            );
        }
    }
}

#[test]
fn no_production_file_grows_past_800_lines() {
    for dir in source_dirs() {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).expect("read source");
            let lines = production(&text).lines().count();
            assert!(
                lines <= 800,
                "{} has {lines} production lines: split it by role",
                file.display()
            );
        }
    }
}
