//! Names the commit the binary was built from (`striae --version`), read with `git` when the
//! source is a git checkout; `unknown` otherwise (a source tarball, no git installed).

use std::{path::Path, process::Command};

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=STRIAE_COMMIT={commit}");
    // Built again when HEAD moves; only paths that exist are named, since a missing one
    // would make cargo rebuild this crate every time.
    let git = Path::new("../.git");
    for path in ["HEAD", "refs/heads", "packed-refs"] {
        let p = git.join(path);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
