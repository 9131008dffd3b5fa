//! The kill -9 loop of `striae-bench crash`, short: member processes killed with SIGKILL
//! during an import, notice publications, traces and ballistic uploads lose nothing they
//! acknowledged.
//!
//! The members run as `striae-bench member` processes (the node library `striae run` starts,
//! in a process of its own): the `striae` binary belongs to another package, so cargo does not
//! build it for this one's tests, and cannot build it from inside them (the running
//! `cargo test` holds the target folder's lock). `striae-bench crash` alone uses `striae`.

use std::{path::Path, process::Command};

use serde_json::Value;

#[test]
fn members_killed_during_writes_lose_nothing_they_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let scans = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/fadul-known");
    // Four kills: the schedule deals every workload once before repeating one.
    let output = Command::new(env!("CARGO_BIN_EXE_striae-bench"))
        .args(["crash", "--kills", "4", "--seed", "7", "--members-in-bench"])
        .args([
            "--import-records",
            "20000",
            "--batch",
            "2000",
            "--wait",
            "60",
        ])
        .arg("--scans")
        .arg(&scans)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run striae-bench crash");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("no JSON line ({e}); stderr:\n{stderr}"));
    assert_eq!(result["kills"], 4, "{result}");
    assert_eq!(result["import_records"], 20_000, "{result}");
    assert_eq!(result["lost"], 0, "{result}\n{stderr}");
    assert_eq!(result["announced_missing"], 0, "{result}\n{stderr}");
    assert_eq!(result["equivocations"], 0, "{result}\n{stderr}");
    assert_eq!(result["audit_ok"], true, "{result}\n{stderr}");
    assert!(output.status.success(), "{result}\n{stderr}");
}
