//! Network statistics between separate `striae run` processes, through the command line:
//! two members publish their aggregates and each sees both, with the route legs of the
//! seizures one of them recorded.

mod common;

use common::{Member, eventually, start_with, striae};
use serde_json::Value;

/// Three revolvers made and sold in the United States, seized in Germany, and one lost
/// pistol (below the threshold of 2).
const RECORDS: &str = concat!(
    r#"{"make":"Smith & Wesson","model":"Model 10","caliber":".38 Special","serial":"SW-1","type":"revolver","status":"seized","country_of_manufacture":"US","history":[{"date":"2011-04-01","event":"sold","party":"Gun shop","country":"US"},{"date":"2024-06-01","event":"seized","party":"LKA","country":"DE"}]}"#,
    "\n",
    r#"{"make":"Smith & Wesson","model":"Model 10","caliber":".38 Special","serial":"SW-2","type":"revolver","status":"seized","country_of_manufacture":"US","history":[{"date":"2012-04-01","event":"sold","party":"Gun shop","country":"US"},{"date":"2024-07-01","event":"seized","party":"LKA","country":"DE"}]}"#,
    "\n",
    r#"{"make":"Smith & Wesson","model":"Model 10","caliber":".38 Special","serial":"SW-3","type":"revolver","status":"seized","country_of_manufacture":"US","history":[{"date":"2013-04-01","event":"sold","party":"Gun shop","country":"US"},{"date":"2024-08-01","event":"seized","party":"LKA","country":"DE"}]}"#,
    "\n",
    r#"{"make":"Beretta","model":"92FS","caliber":"9x19mm","serial":"BE-1","type":"pistol","status":"lost"}"#,
    "\n",
);

fn summary(member: &Member) -> Value {
    striae(member, &["analysis", "summary"]).unwrap_or(Value::Null)
}

#[test]
fn members_see_each_others_published_statistics_across_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_processes, m) = start_with(dir.path(), 2, |_, config| {
        let text = std::fs::read_to_string(config).expect("read node.toml");
        let text = text.replace(
            "publish_interval_minutes = 10",
            "publish_interval_minutes = 10\nmin_count = 2",
        );
        std::fs::write(config, text).expect("write node.toml");
    });
    let (fr, de) = (&m[0], &m[1]);
    let file = dir.path().join("records.ndjson");
    std::fs::write(&file, RECORDS).expect("write records");
    striae(de, &["firearm", "import", file.to_str().expect("path")]).expect("import");

    for member in [fr, de] {
        let published = striae(member, &["analysis", "publish"]).expect("publish");
        assert_eq!(published["min_count"], 2, "{published}");
    }
    eventually("both aggregates at FR", || {
        let s = summary(fr);
        s["members_reporting"] == 2 && s["records"]["by_status"]["seized"] == 3
    });
    let s = summary(fr);
    assert!(s["records"]["by_status"].get("lost").is_none(), "{s}");
    assert_eq!(s["recoveries"]["revolver"], 3, "{s}");

    let routes = striae(fr, &["analysis", "routes", "--type", "revolver"]).expect("routes");
    let legs = routes["routes"].as_array().expect("legs");
    assert_eq!(legs.len(), 1, "{routes}");
    assert_eq!(
        (&legs[0]["from"], &legs[0]["to"]),
        (&"US".into(), &"DE".into())
    );
    assert_eq!(legs[0]["count"], 3);

    // Text by default.
    let out = std::process::Command::new(common::STRIAE)
        .args(["analysis", "routes", "--api", &de.api, "--token", &de.token])
        .output()
        .expect("striae runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("US -> DE"), "{text}");
    // Three seized revolvers at one member propose no notice.
    let drafts = striae(fr, &["analysis", "drafts"]).expect("drafts");
    assert_eq!(drafts["members_reporting"], 2, "{drafts}");
    assert_eq!(drafts["drafts"], serde_json::json!([]), "{drafts}");
    // A bad period is refused naming the parameter.
    let err = striae(fr, &["analysis", "trends", "--from", "2026-13"]).unwrap_err();
    assert!(err.contains("from"), "{err}");
}
