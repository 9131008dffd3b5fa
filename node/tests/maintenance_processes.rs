//! Looking after a member as its IT staff do, on separate `striae run` processes: a backup
//! taken while the member runs and answers, restored into a fresh data dir that then runs as
//! the same member with the same records; an export of its records that imports again without
//! duplicating anything.

mod common;

use std::process::{Command, Stdio};

use common::{Member, STRIAE, eventually, start, striae};

const RECORDS: &str = concat!(
    r#"{"make":"Glock","model":"17","caliber":"9mm","serial":"GL-40001","type":"pistol","status":"stolen"}"#,
    "\n",
    r#"{"make":"Beretta","model":"92","caliber":"9mm","serial":"BR-77002","type":"pistol","status":"lost","history":[{"date":"2020-03-01","event":"sold","party":"Armeria, Roma","country":"IT"}]}"#,
    "\n",
    r#"{"make":"Walther","model":"P99","caliber":"9mm","serial":"WK-10003","type":"pistol","status":"seized"}"#,
    "\n",
);

fn cli(args: &[&str], member: &Member) -> std::process::Output {
    Command::new(STRIAE)
        .args(args)
        .args(["--api", &member.api, "--token", &member.token])
        .output()
        .expect("striae runs")
}

fn record_count(member: &Member) -> usize {
    striae(member, &["firearm", "list"])
        .ok()
        .and_then(|v| v["records"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn a_backup_of_a_running_member_restores_as_the_same_member_with_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut processes, m) = start(dir.path(), 2);
    let (fr, de) = (&m[0], &m[1]);
    let file = dir.path().join("records.ndjson");
    std::fs::write(&file, RECORDS).expect("write records");
    striae(fr, &["firearm", "import", file.to_str().expect("path")]).expect("import");
    assert_eq!(record_count(fr), 3);

    // The backup is taken while FR runs; FR keeps answering.
    let backup = dir.path().join("fr.zip");
    let out = cli(&["backup", "--out", backup.to_str().expect("path")], fr);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(record_count(fr) == 3, "FR answers after the backup");
    // A second backup to the same file is refused rather than overwriting it.
    let again = cli(&["backup", "--out", backup.to_str().expect("path")], fr);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // FR's machine is lost: the backup goes into a fresh data dir, with the same config.
    let _ = processes.0[0].kill();
    let _ = processes.0[0].wait();
    let config = std::fs::read_to_string(&fr.config).expect("FR's config");
    let restored_config = fr.config.with_file_name("restored.toml");
    std::fs::write(
        &restored_config,
        config.replace("data_dir = \"data\"", "data_dir = \"restored\""),
    )
    .expect("write config");
    let restore = || {
        Command::new(STRIAE)
            .args(["restore", "--config"])
            .arg(&restored_config)
            .arg("--from")
            .arg(&backup)
            .output()
            .expect("striae restore")
    };
    let first = restore();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let twice = restore();
    assert!(
        !twice.status.success(),
        "a second restore over the data is refused"
    );
    assert!(String::from_utf8_lossy(&twice.stderr).contains("--force"));

    let log = std::fs::File::create(dir.path().join("restored.log")).expect("log");
    processes.0[0] = Command::new(STRIAE)
        .args(["run", "--config"])
        .arg(&restored_config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("striae run");
    // Same key, same token: the same member, with its records, connected to DE again.
    eventually("the restored FR answers with its records", || {
        record_count(fr) == 3
    });
    eventually("DE connected to the restored FR", || {
        striae(de, &["peers"]).is_ok_and(|v| v[0]["connected"] == true)
    });
    let check = striae(
        de,
        &["firearm", "check", "--make", "Glock", "--serial", "GL40001"],
    )
    .expect("check");
    assert_eq!(check["verdict"], "hits", "{check}");
}

#[test]
fn an_export_reads_back_in_and_a_reimport_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_processes, m) = start(dir.path(), 1);
    let fr = &m[0];
    let file = dir.path().join("records.ndjson");
    std::fs::write(&file, RECORDS).expect("write records");
    striae(fr, &["firearm", "import", file.to_str().expect("path")]).expect("import");

    for format in ["csv", "ndjson"] {
        let out = dir.path().join(format!("export.{format}"));
        let done = cli(
            &[
                "export",
                "--format",
                format,
                "--out",
                out.to_str().expect("path"),
            ],
            fr,
        );
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        let text = std::fs::read_to_string(&out).expect("export");
        assert!(
            text.contains("GL-40001") && text.contains("Armeria, Roma"),
            "{text}"
        );
        let lines = text.lines().count();
        assert_eq!(lines, if format == "csv" { 4 } else { 3 }, "{text}");
    }
    // The export imported again: every line names a record FR holds, as it is.
    let own_feed =
        |v: &serde_json::Value| v["feeds"][v["bureau_id"].as_str().unwrap_or("")].clone();
    let before = own_feed(&striae(fr, &["status"]).expect("status"));
    assert!(before.as_u64().is_some_and(|seq| seq > 0), "{before}");
    let export = dir.path().join("export.ndjson");
    let again = striae(fr, &["firearm", "import", export.to_str().expect("path")])
        .expect("import the export");
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["unchanged"], 3, "{again}");
    assert_eq!(record_count(fr), 3);
    assert_eq!(
        own_feed(&striae(fr, &["status"]).expect("status")),
        before,
        "nothing announced"
    );
    // A monthly file from the bureau's own system: one firearm recovered, one new.
    let monthly = dir.path().join("monthly.csv");
    std::fs::write(
        &monthly,
        "make,model,caliber,serial,type,status\n\
         Glock,17,9mm,GL-40001,pistol,recovered\n\
         CZ,75,9mm,CZ-55004,pistol,stolen\n",
    )
    .expect("write");
    let month = striae(fr, &["firearm", "import", monthly.to_str().expect("path")])
        .expect("monthly import");
    assert_eq!(month["imported"], 1, "{month}");
    assert_eq!(month["updated"], 1, "{month}");
    assert_eq!(record_count(fr), 4);

    let refused = cli(&["export", "--format", "xml", "--out", "x"], fr);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("csv or ndjson"));
}
