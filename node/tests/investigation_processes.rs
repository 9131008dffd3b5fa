//! An investigation across borders, as bureaus run it: three members as separate
//! `striae run` processes, driven with the `striae` command line. DE records a pistol as
//! stolen; FR recovers it and opens a case, which finds DE's record, traces it and raises the
//! indicators; FR queries a partial serial, DE's record matches and FR traces the match; FR
//! coordinates a joint operation that DE joins and records a seizure in, and both see the
//! same report while ES, not invited, does not see the operation at all.

mod common;

use std::process::Command;

use common::{STRIAE, eventually, start, striae};
use serde_json::Value;

#[test]
fn a_case_a_partial_serial_query_and_a_joint_operation_between_member_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_processes, m) = start(dir.path(), 3);
    let (fr, de, es) = (&m[0], &m[1], &m[2]);

    // DE records the pistol as stolen, with its history.
    let file = dir.path().join("de.ndjson");
    std::fs::write(
        &file,
        r#"{"make":"Carl Walther GmbH","model":"P99","caliber":"9mm Parabellum","serial":"WK-1O5 733","type":"pistol","status":"stolen","event_date":"2023-01-10","history":[{"date":"2021-05-02","event":"sold","party":"Waffen Schmidt KG","country":"DE"},{"date":"2023-01-10","event":"stolen","party":"Sport shooter, Ulm","country":"DE"}]}"#,
    )
    .expect("write records");
    striae(de, &["firearm", "import", file.to_str().expect("path")]).expect("import");
    eventually("DE's digest at FR", || {
        striae(
            fr,
            &[
                "firearm", "check", "--make", "Walther", "--serial", "WK1O5733",
            ],
        )
        .is_ok_and(|v| v["hits"].as_array().is_some_and(|h| !h.is_empty()))
    });

    // A case at FR: the hit, the trace with the history, and the indicators.
    let case = striae(
        fr,
        &[
            "case",
            "create",
            "--case-ref",
            "FR-2024-0042",
            "--title",
            "Pistol found in Lyon",
            "--recovered-date",
            "2024-02-01",
            "--place",
            "Lyon",
            "--make",
            "Walther",
            "--serial",
            "WK1O5733",
            "--wait",
            "30",
        ],
    )
    .expect("case create");
    let id = case["id"].as_str().expect("case id").to_string();
    let mut shown = Value::Null;
    eventually("the case's automatic steps", || {
        shown = striae(fr, &["case", "show", &id]).unwrap_or(Value::Null);
        shown["state"] == "done"
    });
    let kinds: Vec<&str> = shown["leads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"record_hit") && kinds.contains(&"trace_record"),
        "{shown:#}"
    );
    let codes: Vec<&str> = shown["indicators"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"STOLEN_OR_LOST_ABROAD") && codes.contains(&"SHORT_TIME_TO_CRIME"),
        "{shown:#}"
    );
    let html = dir.path().join("case.html");
    Command::new(STRIAE)
        .args(["case", "report", &id, "--html", "--out"])
        .arg(&html)
        .args(["--api", &fr.api, "--token", &fr.token])
        .output()
        .expect("case report");
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(page.contains("Waffen Schmidt KG"), "{page}");

    // A partial serial goes to the members; DE's record matches; FR traces the match.
    let query = striae(
        fr,
        &[
            "query",
            "send",
            "--make",
            "Walther",
            "--pattern",
            "WK1?57*",
            "--case-ref",
            "FR-2024-0050",
            "--reason",
            "serial filed off, partly restored",
            "--wait",
            "30",
        ],
    )
    .expect("query send");
    let de_answer = query["answers"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["country"] == "DE"))
        .expect("DE answered");
    assert_eq!(de_answer["outcome"], "matches", "{query:#}");
    assert_eq!(de_answer["matches"][0]["serial"], "WK1O5733");
    let es_answer = query["answers"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["country"] == "ES"))
        .expect("ES answered");
    assert_eq!(es_answer["outcome"], "no_match", "{query:#}");
    let query_id = query["id"].as_str().expect("query id");
    let trace = striae(
        fr,
        &[
            "firearm",
            "trace",
            "--query",
            query_id,
            "--match",
            "1",
            "--reason",
            "pattern match",
            "--wait",
            "30",
        ],
    )
    .expect("trace a match");
    let found = trace["responses"].as_array().is_some_and(|r| {
        r.iter()
            .any(|r| r["country"] == "DE" && r["outcome"] == "found")
    });
    assert!(found, "{trace:#}");

    // A joint operation between FR and DE; ES is not invited.
    let op = striae(
        fr,
        &[
            "operation",
            "create",
            "--name",
            "TRIGGER test",
            "--participants",
            "DE",
            "--starts-at",
            "2026-01-01",
            "--ends-at",
            "2026-12-31",
        ],
    )
    .expect("operation create");
    let op_id = op["id"].as_str().expect("operation id").to_string();
    eventually("DE sees the operation", || {
        striae(de, &["operation", "show", &op_id]).is_ok()
    });
    striae(de, &["operation", "join", &op_id]).expect("join");
    striae(
        de,
        &[
            "operation",
            "seize",
            &op_id,
            "--date",
            "2026-06-01",
            "--item",
            "drugs:3",
            "--arrests",
            "2",
        ],
    )
    .expect("seize");
    eventually("FR's report adds up DE's seizure", || {
        striae(fr, &["operation", "report", &op_id])
            .is_ok_and(|r| r["totals"]["drugs"] == 3 && r["arrests"] == 2)
    });
    assert!(
        striae(es, &["operation", "show", &op_id]).is_err(),
        "ES must not see it"
    );
    let listed = striae(es, &["operation", "list"]).expect("ES lists");
    assert!(!listed.to_string().contains(&op_id), "{listed}");
}
