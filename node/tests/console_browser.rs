//! The web console in a real browser against real member processes: two members (FR and
//! DE) run as separate `striae run` processes, FR holding traces for review; users are
//! created with `striae user add` (a reviewer and an analyst at FR, an officer at DE); then
//! `tests/browser/setup` installs Debian's Chromium and chromedriver and a Python venv if
//! they are missing, and the pytest suite in `tests/browser/` drives headless Chromium
//! through the console: sign-in, a notice from FR arriving at DE, a firearm check with its
//! hit, a trace approved by a reviewer and refused to an analyst, an X3P upload and search
//! with the comparison picture, and the audit log naming the reviewer. Screenshots of every
//! step go to `target/browser-artifacts/`.
//!
//! Set `STRIAE_SKIP_BROWSER_TESTS=1` to skip it on a machine that cannot install Chromium.

mod common;

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{Member, start_with, striae};

/// The longest the browser suite may run before it is stopped and the test fails.
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds the node crate")
        .to_path_buf()
}

/// Adds a user with `role` at `member`; their account id and token.
fn add_user(member: &Member, name: &str, role: &str) -> (String, String) {
    let user = striae(member, &["user", "add", "--name", name, "--role", role])
        .unwrap_or_else(|e| panic!("striae user add {name}: {e}"));
    let text = |key: &str| {
        user[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {user}"))
            .to_string()
    };
    (text("id"), text("token"))
}

/// A Fadul scan, if the dataset is beside the workspace.
fn fadul(name: &str) -> Option<PathBuf> {
    let path = workspace()
        .join("../shared/datasets/fadul-known")
        .join(name);
    // The browser wants a canonical path for a file input.
    path.canonicalize().ok().filter(|p| p.is_file())
}

/// Runs `command` until it ends or `timeout` passes (then kills it); exit success and output.
fn run_bounded(mut command: Command, timeout: Duration, log: &Path) -> (bool, String) {
    let file = std::fs::File::create(log).expect("suite log");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .expect("start the browser suite");
    let deadline = Instant::now() + timeout;
    let success = loop {
        match child.try_wait().expect("wait for the browser suite") {
            Some(status) => break status.success(),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let mut output = String::new();
    std::fs::File::open(log)
        .and_then(|mut f| f.read_to_string(&mut output))
        .expect("read the suite log");
    (success, output)
}

#[test]
fn the_console_in_headless_chromium_against_member_processes() {
    if std::env::var_os("STRIAE_SKIP_BROWSER_TESTS").is_some() {
        println!("STRIAE_SKIP_BROWSER_TESTS is set: the console's browser tests are skipped");
        return;
    }
    let root = workspace();
    let browser = root.join("tests/browser");

    // Chromium, chromedriver and the venv (idempotent; quick when they are there).
    let setup = Command::new("bash")
        .arg(browser.join("setup"))
        .output()
        .expect("run tests/browser/setup");
    assert!(
        setup.status.success(),
        "tests/browser/setup failed:\n{}\n{}",
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );

    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    // FR (member 0) holds traces for review, so a reviewer decides what it discloses.
    let (_processes, m) = start_with(dir.path(), 2, |i, config| {
        if i == 0 {
            let mut text = std::fs::read_to_string(config).expect("read node.toml");
            text.push_str("\n[traces]\npolicy = \"review\"\n");
            std::fs::write(config, text).expect("write node.toml");
        }
    });
    let (fr, de) = (&m[0], &m[1]);
    let (_, fr_reviewer) = add_user(fr, "FR-review-1", "reviewer");
    let (_, fr_analyst) = add_user(fr, "FR-analyst-1", "analyst");
    let (de_officer_id, de_officer) = add_user(de, "DE-officer-1", "officer");

    let artifacts = root.join("target/browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");

    let mut pytest = Command::new(browser.join(".venv/bin/python"));
    pytest
        .current_dir(&root)
        .args([
            "-m",
            "pytest",
            "tests/browser",
            "-x",
            "-v",
            "-p",
            "no:cacheprovider",
        ])
        .env("STRIAE_A_URL", &fr.api)
        .env("STRIAE_A_ADMIN", &fr.token)
        .env("STRIAE_A_REVIEWER", &fr_reviewer)
        .env("STRIAE_A_ANALYST", &fr_analyst)
        .env("STRIAE_B_URL", &de.api)
        .env("STRIAE_B_ADMIN", &de.token)
        .env("STRIAE_B_OFFICER", &de_officer)
        .env("STRIAE_B_OFFICER_ID", &de_officer_id)
        .env("STRIAE_ARTIFACTS", &artifacts)
        .env("STRIAE_DATA_DIR", dir.path());
    if let (Some(held), Some(probe)) = (fadul("fadul-1-2.x3p"), fadul("fadul-1-1.x3p")) {
        pytest
            .env("STRIAE_SCAN_A", held)
            .env("STRIAE_SCAN_B", probe);
    }
    let (passed, output) = run_bounded(pytest, SUITE_TIMEOUT, &artifacts.join("pytest.log"));
    println!("{output}");
    println!(
        "browser suite: {} in {:.0} s (screenshots in {})",
        if passed { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64(),
        artifacts.display()
    );
    if !passed {
        for i in 0..2 {
            let log = std::fs::read_to_string(dir.path().join(format!("member{i}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            println!("--- member{i}.log (last lines)");
            for line in tail.iter().rev() {
                println!("{line}");
            }
        }
    }
    assert!(passed, "the console's browser tests failed (output above)");
}
